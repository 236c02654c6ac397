"""A stored request (runs.request) round-trips, reference images by their sha256 only."""

import hashlib
import json

import pytest

from lib.generation import GenerationRequest, ReferenceImage


def test_an_edit_request_round_trips_without_its_bytes():
    ref = ReferenceImage("cat.png", b"\x89PNG-bytes-1", "image", "image/png")
    mask = ReferenceImage("mask.png", b"\x89PNG-mask", "mask", "image/png")
    req = GenerationRequest(prompt="a hat on the cat", images=[ref], mask=mask, stream=True, partial_images=1)
    stored = json.loads(json.dumps(req.to_dict()))
    assert b"PNG-bytes" not in json.dumps(stored).encode()
    assert stored["images"][0]["sha256"] == hashlib.sha256(ref.data).hexdigest()
    kept = {hashlib.sha256(r.data).hexdigest(): r.data for r in (ref, mask)}
    back = GenerationRequest.from_dict(stored, load=kept.get)
    assert back.images[0].data == ref.data and back.mask.data == mask.data
    assert back.images[0].filename == "cat.png" and back.mask.role == "mask"
    assert (back.stream, back.partial_images, back.is_edit) == (True, 1, True)


def test_a_lost_reference_image_is_refused_not_dropped():
    req = GenerationRequest(prompt="x", images=[ReferenceImage("a.png", b"abc", "image", "image/png")])
    with pytest.raises(ValueError, match="a.png"):
        GenerationRequest.from_dict(req.to_dict())
    with pytest.raises(ValueError, match="a.png"):
        GenerationRequest.from_dict(req.to_dict(), load=lambda sha: None)


def test_a_plain_request_round_trips():
    req = GenerationRequest(prompt="p", size="1536x1024", n=2, quality="high", extra={"user": "u1"})
    assert GenerationRequest.from_dict(json.loads(json.dumps(req.to_dict()))) == req


def test_a_request_round_trips_through_json():
    req = GenerationRequest(
        prompt="p",
        model="gpt-image-1",
        size="1536x1024",
        n=2,
        quality="high",
        background="opaque",
        output_format="webp",
        output_compression=70,
        moderation="low",
        extra={"user": "u1"},
    )
    again = GenerationRequest.from_dict(json.loads(json.dumps(req.to_dict())))
    assert again == req
    assert GenerationRequest.from_dict({"prompt": "only a prompt", "unknown": 1}) == GenerationRequest(prompt="only a prompt")
    with pytest.raises(ValueError):
        GenerationRequest.from_dict({"model": "no prompt"})
