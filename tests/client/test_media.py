"""Streaming and edits in lib/: SSE parsing, multipart building, file and mask checks, capabilities."""

from __future__ import annotations

import base64
import json

import pytest

from lib import constants as C
from lib import errors as E
from lib.answers import iter_sse, looks_like_sse, read_image_stream, read_stream_item
from lib.edits import curl_form, edit_form, form_preview, image_field_name, sniff
from lib.generation import ClientSettings, GenerationRequest, ReferenceImage
from lib.preflight import check_media, preflight
from lib.providers import CAPABILITIES, build_endpoint, capabilities, capability_rows
from tests.support.media_support import image_bytes, mask_bytes, sse

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")

PNG = image_bytes()
B64 = base64.b64encode(PNG).decode()


def partial(i):
    return sse("image_generation.partial_image", b64_json=B64, partial_image_index=i)


def completed(**extra):
    return sse("image_generation.completed", b64_json=B64, usage={"total_tokens": 7}, **extra)


# --- SSE -----------------------------------------------------------------------


def test_events_survive_any_chunking():
    stream = partial(0) + b": keep-alive\n\n" + partial(1) + completed()
    for size in (1, 7, 64, len(stream)):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        messages = list(iter_sse(chunks))
        assert [m.event for m in messages] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]


def test_crlf_lines_and_multi_line_data():
    messages = list(iter_sse([b'event: x\r\ndata: {"a":\r\ndata: 1}\r\n\r\n']))
    assert messages[0].event == "x" and json.loads(messages[0].data) == {"a": 1}


def test_partials_out_of_order_and_final_before_the_last_partial():
    seen = []
    result = read_image_stream([partial(1), partial(0), completed(), partial(2)], on_item=lambda item: seen.append((item.kind, item.index)))
    assert seen == [("partial", 1), ("partial", 0), ("completed", None), ("partial", 2)]
    assert result.partial_count == 3 and result.latest_partial.index == 2  # counted; only the newest is held
    assert len(result.finals) == 1 and result.usage == {"total_tokens": 7}


def test_edit_event_names_are_read_too():
    result = read_image_stream(
        [sse("image_edit.partial_image", b64_json=B64, partial_image_index=0), sse("image_edit.completed", b64_json=B64)]
    )
    assert result.partial_count == 1 and len(result.finals) == 1


def test_an_error_event_is_classified():
    body = sse("error", error={"type": "image_generation_user_error", "code": "moderation_blocked", "message": "Blocked by safety"})
    with pytest.raises(E.ImageLabError) as info:
        read_image_stream([partial(0), body])
    assert info.value.error_type == "content_policy"
    assert "1 partial image(s) had arrived" in info.value.message


def test_a_cut_stream_is_network_naming_the_partials():
    def chunks():
        yield partial(0)
        yield partial(1)
        raise ConnectionResetError("peer went away")

    with pytest.raises(E.NetworkError) as info:
        read_image_stream(chunks())
    assert "2 partial image(s)" in info.value.message and info.value.code == "stream_cut"


def test_a_stream_ending_without_completed_is_bad_response():
    with pytest.raises(E.BadResponse) as info:
        read_image_stream([partial(0)])
    assert info.value.code == "stream_incomplete" and "1 partial" in info.value.message


def test_a_completed_event_without_an_image_is_bad_response():
    with pytest.raises(E.BadResponse) as info:
        read_image_stream([sse("image_generation.completed", usage={})])
    assert info.value.code == "no_image_field"


def test_event_data_that_is_not_json_is_bad_response():
    with pytest.raises(E.BadResponse) as info:
        read_image_stream([b"data: {not json\n\n"])
    assert info.value.code == "bad_stream_event"


def test_the_byte_cap_stops_an_endless_stream():
    def endless():
        while True:
            yield b": " + b"x" * 1000 + b"\n"

    with pytest.raises(E.BadResponse) as info:
        read_image_stream(endless(), max_bytes=50_000)
    assert info.value.code == "stream_too_large"


def test_one_huge_line_is_refused_before_the_cap():
    def line():
        yield b"data: "
        while True:
            yield b"A" * 4096

    with pytest.raises(E.BadResponse):
        read_image_stream(line(), max_bytes=10**9, max_line=100_000)


def test_json_instead_of_a_stream_is_recognised():
    assert looks_like_sse("text/event-stream; charset=utf-8")
    assert not looks_like_sse("application/json")
    assert looks_like_sse("", b"event: x") and not looks_like_sse("", b'{"data": []}')


def test_done_marker_is_ignored():
    assert read_stream_item(next(iter_sse([b"data: [DONE]\n\n"]))).kind == "other"


# --- multipart -------------------------------------------------------------------


def refs(n, data=PNG):
    return [ReferenceImage(f"ref{i}.png", data) for i in range(n)]


def test_one_image_is_sent_as_image_several_as_image_brackets():
    assert image_field_name(1) == "image" and image_field_name(3) == "image[]"
    fields, files = edit_form(GenerationRequest(prompt="p", images=refs(1)), "gpt-image-1.5")
    assert [f[0] for f in files] == ["image"]
    fields, files = edit_form(
        GenerationRequest(prompt="p", images=refs(2), mask=ReferenceImage("m.png", mask_bytes(), "mask")), "gpt-image-1.5"
    )
    assert [f[0] for f in files] == ["image[]", "image[]", "mask"]
    assert files[0][1][2] == "image/png"


def test_form_fields_are_strings_without_generation_only_fields():
    req = GenerationRequest(
        prompt="p", images=refs(1), moderation="low", quality="high", stream=True, partial_images=2, input_fidelity="high"
    )
    fields, _ = edit_form(req, "gpt-image-1.5")
    assert fields == {
        "model": "gpt-image-1.5",
        "prompt": "p",
        "n": "1",
        "size": "auto",
        "quality": "high",
        "stream": "true",
        "partial_images": "2",
        "input_fidelity": "high",
    }


def test_file_names_lose_their_paths():
    _, files = edit_form(GenerationRequest(prompt="p", images=[ReferenceImage("../../etc/pass wd", PNG)]))
    assert files[0][1][0] == "pass_wd.png"


def test_preview_and_curl_show_names_and_sizes_never_bytes():
    req = GenerationRequest(prompt="@not-a-file", images=refs(2))
    fields, files = edit_form(req, "gpt-image-2")
    rows = form_preview(fields, files)
    assert {"field": "image[]", "value": f"@ref0.png (image/png, {len(PNG):,} bytes)"} in rows
    curl = curl_form("https://x/v1/images/edits", fields, files, key_env="OPENAI_API_KEY")
    assert "-F 'image[]=@ref0.png;type=image/png'" in curl and "--form-string prompt=@not-a-file" in curl
    assert B64[:40] not in curl and "$OPENAI_API_KEY" in curl


def test_content_type_comes_from_the_bytes():
    assert sniff(PNG) == "image/png"
    assert sniff(image_bytes(fmt="JPEG")) == "image/jpeg"
    assert sniff(image_bytes(fmt="WEBP")) == "image/webp"
    assert sniff(image_bytes(fmt="GIF", mode="P", colour=1)) == "image/gif"
    assert sniff(b"hello") is None


# --- pre-flight: files, mask, capabilities -------------------------------------------


def check(**kw):
    check_media(GenerationRequest(prompt="p", **kw), ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1"))


def refused(**kw) -> E.InvalidInput:
    with pytest.raises(E.InvalidInput) as info:
        check(**kw)
    return info.value


def test_good_files_pass_and_get_their_type():
    images = [ReferenceImage("a.jpg", image_bytes(fmt="JPEG")), ReferenceImage("b.webp", image_bytes(fmt="WEBP"))]
    check(model="gpt-image-1.5", images=images, mask=ReferenceImage("m.png", mask_bytes(), "mask"))
    assert [r.content_type for r in images] == ["image/jpeg", "image/webp"]


def test_type_by_content_not_extension():
    err = refused(images=[ReferenceImage("looks.png", image_bytes(fmt="GIF", mode="P", colour=1))])
    assert "'looks.png'" in err.message and "GIF" in err.message and err.param == "image"
    err = refused(images=[ReferenceImage("notes.png", b"just text, not a picture")])
    assert "'notes.png'" in err.message


def test_size_limit_per_file(monkeypatch):
    monkeypatch.setattr(C, "MAX_REFERENCE_IMAGE_BYTES", 100)
    err = refused(images=[ReferenceImage("big.png", PNG)])
    assert "'big.png'" in err.message and "MB" in err.message


def test_at_most_16_images():
    err = refused(images=refs(C.MAX_REFERENCE_IMAGES + 1))
    assert "17 reference images" in err.message


def test_mask_must_be_png_with_alpha_and_the_size_of_the_first_image():
    one = refs(1)
    err = refused(images=one, mask=ReferenceImage("m.jpg", image_bytes(fmt="JPEG"), "mask"))
    assert "'m.jpg'" in err.message and "PNG" in err.message and err.param == "mask"
    err = refused(images=one, mask=ReferenceImage("flat.png", image_bytes(), "mask"))
    assert "'flat.png'" in err.message and "alpha" in err.message
    err = refused(images=one, mask=ReferenceImage("small.png", mask_bytes((32, 32)), "mask"))
    assert "'small.png'" in err.message and "32x32" in err.message and "64x48" in err.message
    err = refused(mask=ReferenceImage("alone.png", mask_bytes(), "mask"))
    assert "'alone.png'" in err.message


def test_a_model_that_cannot_do_it_is_refused_with_did_you_mean():
    err = refused(model="seedream-4-5", stream=True)
    assert "does not stream" in err.message and "Did you mean gpt-image-2" in err.message
    err = refused(model="gpt-image-2", images=refs(1), input_fidelity="high")
    assert err.param == "input_fidelity" and "leave it out" in err.message
    err = refused(model="gpt-image-1-mini", images=refs(1), input_fidelity="high")
    assert "it takes low" in err.message
    err = refused(model="seedream-4-5", background="transparent")
    assert err.param == "background"
    err = refused(model="seedream-4-5", images=refs(1), mask=ReferenceImage("m.png", mask_bytes(), "mask"))
    assert "does not take a mask" in err.message
    err = refused(stream=True, partial_images=4)
    assert err.param == "partial_images"


def test_preflight_runs_the_media_checks():
    with pytest.raises(E.InvalidInput):
        preflight(
            GenerationRequest(prompt="p", model="seedream-4-5", stream=True),
            ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1"),
        )


def test_capability_table():
    assert capabilities("gpt-image-2").streams and capabilities("gpt-image-2").input_fidelity == ()
    assert capabilities("gpt-image-1.5").input_fidelity == ("low", "high")
    unknown = capabilities("my-gateway-model")
    assert not unknown.known and unknown.edits and unknown.streams
    rows = capability_rows()
    assert [r["model"] for r in rows] == list(CAPABILITIES) and all(r["source"] for r in rows)


def test_edits_url_sits_beside_generations():
    e = build_endpoint("https://api.example.com/v1/images/generations")
    assert e.edits_url == "https://api.example.com/v1/images/edits"
