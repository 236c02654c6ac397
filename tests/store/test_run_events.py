"""A run's stored events are read in bounded parts: a run recorded before events were
coalesced may hold hundreds of thousands, and reopening it must not read them all."""

from __future__ import annotations

import pytest

from lib.generation import Event
from lib.store import Store
from lib.ui.progress import bounded


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "data")


def _flood(store: Store, n: int) -> str:
    run_id = store.start_run(kind="generate", label="a flood", settings={})
    rows = [(run_id, seq, 0.0, seq / 100, "note", f"event {seq}") for seq in range(1, n + 1)]
    store._transaction(
        [("INSERT INTO run_events (run_id, seq, at, elapsed_s, kind, message) VALUES (?, ?, ?, ?, ?, ?)", list(r)) for r in rows]
    )
    return run_id


def test_a_short_run_reads_every_event(store):
    run_id = store.start_run(kind="generate", label="short", settings={})
    for seq in range(1, 6):
        store.run_event(run_id, seq, Event("polling", f"poll {seq}", seq, "gpt-image-2", 1))
    store.flush()
    assert [e["message"] for e in store.run_events(run_id)] == [f"poll {i}" for i in range(1, 6)]


def test_a_flooded_run_reads_its_first_and_last_events_and_counts_the_rest(store):
    run_id = _flood(store, 5000)
    events = store.run_events(run_id, head=50, tail=50)
    assert len(events) == 101
    assert [e["message"] for e in events[:2]] == ["event 1", "event 2"] and events[-1]["message"] == "event 5000"
    gap = events[50]
    assert gap["kind"] == "note" and gap["data"] == {"left_out": 4900} and "4,900 more stored events" in gap["message"]
    assert events[51]["message"] == "event 4951"
    first, latest, hidden = bounded(events, limit=40)
    assert hidden == 5000 - 40  # the screen's count is the run's, not the part read
    assert store.run(run_id)["events"][-1]["message"] == "event 5000"
