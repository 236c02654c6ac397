"""``literal_obj``: every string of a JSON-like value, keys included, shown literally; nothing else touched."""

from __future__ import annotations

from lib.text import literal_obj


def test_every_string_and_key_is_neutralised_and_other_values_stay():
    value = {"prompt\u202e": ["a \u202ereversed\u202c word", {"n": 1, "ok": True, "none": None, "zw": "a\u200bb"}], "size": 1.5}
    assert literal_obj(value) == {
        "prompt<U+202E>": ["a <U+202E>reversed<U+202C> word", {"n": 1, "ok": True, "none": None, "zw": "a<U+200B>b"}],
        "size": 1.5,
    }


def test_plain_values_come_back_equal():
    value = [{"model": "gpt-image-2", "status": "succeeded", "HTTP": 200}, ("x", 2)]
    assert literal_obj(value) == [{"model": "gpt-image-2", "status": "succeeded", "HTTP": 200}, ["x", 2]]
