"""The prompt library in the store: versions, tags, search, the results of a version, and redaction."""

from __future__ import annotations

import time

import pytest

from lib import library as L
from lib import redact
from lib.store import Store
from tests.support.history_seed import add


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "data")


def test_saving_again_makes_a_new_version_only_when_the_text_changed(store):
    first = store.save_prompt("Neon sign", 'A neon sign that says "OPEN"', tags="poster, neon", now=100.0)
    assert (first["version"], first["created"], first["versions"], first["tags"]) == (1, True, 1, ["poster", "neon"])
    same = store.save_prompt("neon  SIGN", 'A neon sign that says "OPEN"\n', now=200.0)
    assert (same["id"], same["version"], same["created"], same["versions"]) == (first["id"], 1, False, 1)
    assert same["tags"] == ["poster", "neon"]  # no tags given: kept
    second = store.save_prompt("Neon sign", 'A neon sign that says "CLOSED"', tags="poster", settings={"size": "1536x1024"}, now=300.0)
    assert (second["id"], second["version"], second["created"], second["versions"]) == (first["id"], 2, True, 2)
    assert second["tags"] == ["poster"] and second["latest_text"] == 'A neon sign that says "CLOSED"'
    versions = store.prompt_versions(first["id"])
    assert [(v["version"], v["text"], v["settings"]) for v in versions] == [
        (1, 'A neon sign that says "OPEN"', None),
        (2, 'A neon sign that says "CLOSED"', {"size": "1536x1024"}),
    ]


def test_the_library_lists_searches_and_filters_by_tag(store):
    store.save_prompt("Neon sign", "a neon sign at night", tags="poster", now=1.0)
    store.save_prompt("Fox", "a red fox in the snow", tags="animal, winter", now=2.0)
    store.save_prompt("Fox", "a red fox in 100% fresh snow_drift", now=3.0)
    assert [p["name"] for p in store.prompts()] == ["Fox", "Neon sign"]  # the most recently saved first
    assert [p["name"] for p in store.prompts(search="NEON")] == ["Neon sign"]
    assert [p["name"] for p in store.prompts(search="in the snow")] == ["Fox"]  # any version's text
    assert [p["name"] for p in store.prompts(search="100%")] == ["Fox"]
    assert store.prompts(search="100%x") == [] and store.prompts(search="snow_d") != []
    assert store.prompts(search="fox_in") == [] and store.prompts(search="red%fox") == []  # wildcards are literal
    assert [p["name"] for p in store.prompts(tag="#Winter")] == ["Fox"]
    assert store.prompt_tags() == [("animal", 1), ("poster", 1), ("winter", 1)]
    assert store.prompt_named("  fox ")["versions"] == 2 and store.prompt_named("") is None


def test_bad_input_is_refused_and_nothing_is_written(store):
    with pytest.raises(L.LibraryError):
        store.save_prompt("", "text")
    with pytest.raises(L.LibraryError):
        store.save_prompt("name", "   ")
    with pytest.raises(L.LibraryError):
        store.save_prompt("name", "text", tags="x" * 40)
    assert store.prompts() == []


def test_deleting_a_prompt_removes_its_versions_and_keeps_history(store):
    saved = store.save_prompt("Fox", "a red fox")
    store.save_prompt("Fox", "a red fox, watercolour")
    aid = add(store, at=time.time() - 5, prompt="a red fox")
    assert store.delete_prompt(saved["id"]) is True
    assert store.prompt(saved["id"]) is None and store.prompt_versions(saved["id"]) == []
    assert store.delete_prompt(saved["id"]) is False
    assert store.attempt(aid) is not None


def test_a_versions_results_are_the_succeeded_attempts_of_that_exact_text(store):
    now = time.time()
    ok_old = add(store, at=now - 50, prompt="a red fox", params={"size": "1024x1024", "quality": "low", "n": 1})
    add(store, at=now - 40, prompt="a red fox", status="failed", error_type="server_error")
    ok_new = add(store, at=now - 30, prompt="a red fox")
    add(store, at=now - 20, prompt="a red fox, watercolour")
    results = store.results_for_text("a red fox\n")
    assert [r["id"] for r in results] == [ok_new, ok_old]
    assert results[1]["params"]["quality"] == "low"
    assert len(store.results_for_text("a red fox", limit=1)) == 1


def test_a_key_pasted_into_a_prompt_is_never_stored(store):
    key = "sk-proj-" + "Zq8rT2vX9wLm4nB7" * 3
    redact.register(key)
    saved = store.save_prompt(f"Try {key}", f"a fox, key {key}", tags=[key[-20:]], settings={"note": key})
    dump = "\n".join(str(r) for table in ("prompts", "prompt_versions") for r in store.db[table].rows)
    assert key not in dump and key[-12:] not in dump
    assert key not in saved["name"]


def test_a_version_is_found_by_name_and_number(store):
    store.save_prompt("Fox", "a red fox", now=1.0)
    store.save_prompt("Fox", "a red fox at dawn", settings={"size": "1024x1024"}, now=2.0)
    assert store.prompt_version("fox")["version"] == 2 and store.prompt_version("fox")["text"] == "a red fox at dawn"
    first = store.prompt_version(" FOX ", 1)
    assert (first["version"], first["text"], first["settings"]) == (1, "a red fox", None)
    assert store.prompt_version("fox", 3) is None and store.prompt_version("owl") is None and store.prompt_version("") is None
