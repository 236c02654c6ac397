"""Lineage in the store: the chain of runs an image came from, and the runs made from a result."""

from __future__ import annotations

import pytest

from lib.store import Store
from tests.support.history_seed import add


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "data")


def _run(store, prompt, parent=None, at=100.0):
    run_id = store.start_run(kind="generate", label=prompt, settings={}, prompt=prompt, parent_run_id=parent)
    add(store, at=at, prompt=prompt, run_id=run_id)
    return run_id


def test_a_chain_of_three_runs_comes_back_oldest_first_with_each_step_s_attempt(store):
    a = _run(store, "a red fox", at=1.0)
    b = _run(store, "a red fox in the snow", parent=a, at=2.0)
    c = _run(store, "a red fox in deep snow at dusk", parent=b, at=3.0)
    chain = store.lineage(c)
    assert [s["id"] for s in chain["steps"]] == [a, b, c]
    assert [s["prompt"] for s in chain["steps"]] == ["a red fox", "a red fox in the snow", "a red fox in deep snow at dusk"]
    assert all(s["attempt_id"] is not None for s in chain["steps"])
    assert (chain["missing_parent"], chain["cycle"], chain["truncated"]) == (None, False, False)
    assert store.run(b)["parent_run_id"] == a
    assert [r["id"] for r in store.children(a)] == [b]
    assert [r["id"] for r in store.children(b)] == [c]
    assert store.children(c) == []
    assert [s["id"] for s in store.lineage(a)["steps"]] == [a]  # a run typed from scratch: a chain of one


def test_parents_that_loop_back_stop_the_chain_instead_of_going_round(store):
    a = _run(store, "one", at=1.0)
    b = _run(store, "two", parent=a, at=2.0)
    store.db.execute("UPDATE runs SET parent_run_id = ? WHERE id = ?", [b, a])  # a hand-edited database
    store.db.conn.commit()
    chain = store.lineage(b)
    assert chain["cycle"] is True
    assert sorted(s["id"] for s in chain["steps"]) == sorted([a, b])
    self_loop = _run(store, "three", at=3.0)
    store.db.execute("UPDATE runs SET parent_run_id = id WHERE id = ?", [self_loop])
    store.db.conn.commit()
    assert [s["id"] for s in store.lineage(self_loop)["steps"]] == [self_loop]
    assert store.children(self_loop) == []  # its own parent is not its child


def test_a_parent_no_longer_recorded_ends_the_chain_and_is_named(store):
    child = _run(store, "an edit", parent="0123456789abcdef0123456789abcdef", at=1.0)
    chain = store.lineage(child)
    assert [s["id"] for s in chain["steps"]] == [child]
    assert chain["missing_parent"] == "0123456789abcdef0123456789abcdef"
    assert store.lineage("no-such-run") == {"steps": [], "missing_parent": None, "cycle": False, "truncated": False}


def test_a_chain_longer_than_the_limit_says_it_was_cut(store):
    parent = None
    for i in range(5):
        parent = _run(store, f"step {i}", parent=parent, at=float(i))
    chain = store.lineage(parent, limit=3)
    assert chain["truncated"] is True
    assert [s["prompt"] for s in chain["steps"]] == ["step 2", "step 3", "step 4"]
