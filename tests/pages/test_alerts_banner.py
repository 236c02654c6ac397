"""The monitoring alerts fold into one line that opens them; each can be dismissed for the browser session."""

from __future__ import annotations

import time

from lib import ui
from tests.support.history_seed import add

PROVIDERS = ("openai", "wisgate", "evolink", "custom")


def seed_six_alerts(store) -> None:
    now = time.time()
    for provider in PROVIDERS:  # out of quota on four providers
        add(store, at=now - 60, provider=provider, status="failed", error_type="quota_exceeded")
    for provider in ("openai", "wisgate"):  # and rate limited on two
        for s in range(3):
            add(store, at=now - 50 + s, provider=provider, status="failed", error_type="rate_limited", http_status=429)


def alert_boxes(at) -> list[str]:
    return [e.value for e in [*at.error, *at.warning] if e.icon == ":material/notifications_active:"]


def test_alerts_fold_into_one_line_and_each_can_be_dismissed(app_env, new_app):
    seed_six_alerts(ui.get_store())
    at = new_app()
    folds = [x for x in at.expander if x.label.startswith(("6 alerts", "5 alerts", "7 alerts"))]
    assert len(folds) == 1, [x.label for x in at.expander]
    label = folds[0].label
    count = int(label.split()[0])
    assert not folds[0].proto.expanded  # closed: the form comes first
    assert len(alert_boxes(at)) == count
    first = at.button(key=next(b.key for b in at.button if b.key and b.key.startswith("alert-dismiss-")))
    first.click().run()
    assert len(alert_boxes(at)) == count - 1
    assert [x.label.split()[0] for x in at.expander if "alert" in x.label][0] == str(count - 1)
    at.switch_page("pages/history.py").run()  # dismissed for the session: not on another page either
    assert len(alert_boxes(at)) == count - 1
    for key in [b.key for b in at.button if b.key and b.key.startswith("alert-dismiss-")]:
        at.button(key=key).click().run()
    assert alert_boxes(at) == [] and not [x for x in at.expander if "alert" in x.label]
    assert len(alert_boxes(new_app())) == count  # another session (a reload) shows them again


def test_one_alert_says_what_it_is_in_its_line(app_env, new_app):
    add(ui.get_store(), at=time.time() - 60, provider="evolink", status="failed", error_type="quota_exceeded")
    at = new_app()
    labels = [x.label for x in at.expander if "alert" in x.label]
    assert labels == ["1 alert: Out of quota on evolink"]
