"""A run stored with a flood of events (as runs were before events were coalesced) reopens in History
with a bounded table and the attempt's note. Through AppTest, like the other page tests."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from lib import constants as C
from lib import ui
from lib.generation import Event
from tests.support.apptest import APP
from tests.support.history_seed import add

NOTE = "the answer held 300 images for 1 asked; the first 1 were kept, the rest not kept or priced"


def test_a_run_with_thousands_of_events_reopens_with_a_bounded_table(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGELAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv(C.PASSWORD_ENV, raising=False)
    ui.get_store.clear()
    try:
        store = ui.get_store()
        run_id = store.start_run(kind="generate", label="a flood", settings={})
        attempt = add(store, at=time.time() - 60, run_id=run_id, note=NOTE)
        for seq in range(1, 5001):
            store.run_event(run_id, seq, Event("note", f"ignored a 'vendor.tick' event {seq}", seq / 100, "gpt-image-2", 1))
        store.flush()
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        at.switch_page("pages/history.py")
        at.query_params["attempt"] = str(attempt)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        (events,) = [df.value for df in at.dataframe if "event" in df.value.columns]
        assert len(events) == C.MAX_EVENTS_SHOWN + 1
        assert f"{5000 - C.MAX_EVENTS_SHOWN:,} more event(s) not shown" in list(events["message"])
        assert any(NOTE in info.value for info in at.info)
    finally:
        ui.get_store.clear()
