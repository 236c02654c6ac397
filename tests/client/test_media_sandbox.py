"""Streaming and edits over loopback: streaming and edits through the client against the sandbox."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

from lib.client import ImageClient
from lib.generation import ClientSettings, GenerationRequest, ReferenceImage
from lib.images import validate
from lib.limits import ProviderLimiter
from lib.store import Store
from tests.support.media_support import image_bytes, mask_bytes
from tests.support.memory_recorder import MemoryRecorder

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")

REF = image_bytes((96, 64), colour=(20, 120, 220))


def client_for(sandbox, recorder=None, **settings) -> ImageClient:
    settings.setdefault("read_timeout_s", 5.0)
    settings.setdefault("max_retries", 0)
    settings.setdefault("use_fallback", False)
    s = ClientSettings(provider="sandbox", base_url=sandbox.base_url, **settings)
    limiter = ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=16)
    return ImageClient(settings=s, recorder=recorder or MemoryRecorder(), limiter=limiter)


def streamed(**kw) -> GenerationRequest:
    return GenerationRequest(prompt=kw.pop("prompt", "a kite over dunes"), model="gpt-image-2", size="1024x1024", stream=True, **kw)


def test_stream_emits_partials_before_the_final_and_saves_only_the_final(sandbox, tmp_path):
    store = Store(tmp_path / "db.sqlite")
    events, shown = [], {}

    def on_event(event):  # a display sees each preview as it comes; only the newest keeps its bytes afterwards
        events.append(event)
        if event.image is not None:
            shown[id(event)] = event.image

    with ImageClient(
        settings=ClientSettings(provider="sandbox", base_url=sandbox.base_url, use_fallback=False),
        recorder=store,
        keeper=store.keeper,
        limiter=ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=4),
    ) as client:
        out = client.generate(streamed(partial_images=2), on_event=on_event)
    assert out.ok, out.error
    kinds = [e.kind for e in events]
    partials = [e for e in events if e.kind == "partial"]
    assert len(partials) == 2 and kinds.index("partial") < kinds.index("saved")
    assert partials[0].image is None and partials[1].image is not None  # at most the latest preview is held
    final = validate(out.images[0].path and open(out.images[0].path, "rb").read())
    for p in partials:
        info = validate(shown[id(p)])
        assert (info.width, info.height) == (final.width, final.height)
        assert p.data["index"] in (0, 1) and "image" not in p.data  # bytes live on Event.image, not in data

    # coarser: far fewer distinct colours than the final image
    def colours(data):
        with Image.open(io.BytesIO(data)) as im:
            return len(im.convert("RGB").resize((256, 256)).getcolors(1 << 20) or [])

    assert colours(shown[id(partials[0])]) < colours(shown[id(partials[1])]) < colours(open(out.images[0].path, "rb").read())
    assert out.partial_count == 2 and out.partials == []  # not kept unless asked
    row = store.attempt(out.attempts[0].attempt_id)
    assert row["first_partial_ms"] is not None and row["first_partial_ms"] <= row["latency_ms"]
    assert row["image_count"] == 1 and len(list((tmp_path / "images").rglob("*.png"))) == 1
    assert row["params"]["stream"] is True and row["params"]["partial_images"] == 2


def test_keep_partials_keeps_them_in_memory(sandbox):
    with client_for(sandbox) as client:
        out = client.generate(streamed(partial_images=3, keep_partials=True))
    assert out.ok and len(out.partials) == 3 and all(validate(p) for p in out.partials)


def test_partial_images_zero_streams_only_the_final(sandbox):
    with client_for(sandbox) as client:
        out = client.generate(streamed(partial_images=0))
    assert out.ok and out.partial_count == 0 and len(out.images) == 1


@pytest.mark.parametrize(
    "scenario,error_type,code",
    [
        ("stream_error", "server_error", "server_error"),
        ("network", "network", "stream_cut"),
        ("bad_response", "bad_response", "stream_incomplete"),
        ("invalid_image", "invalid_image", None),
    ],
)
def test_errors_mid_stream_keep_the_vocabulary(sandbox, scenario, error_type, code):
    recorder = MemoryRecorder()
    with client_for(sandbox, recorder, extra_headers={"X-Sandbox-Scenario": scenario}) as client:
        out = client.generate(streamed(partial_images=2))
    assert not out.ok and out.error.error_type == error_type and (code is None or out.error.code == code)
    assert out.partial_count >= 1
    finished = recorder.attempts[out.attempts[0].attempt_id]
    assert "partial image(s) received" in finished["note"] and finished["first_partial_ms"] is not None


def test_a_gateway_that_ignores_stream_is_a_normal_answer_with_a_note(sandbox):
    sandbox.configure(dialect="url")  # the sandbox's URL dialect ignores `stream`, as some gateways do
    events = []
    with client_for(sandbox) as client:
        out = client.generate(streamed(partial_images=2), on_event=events.append)
    assert out.ok and len(out.images) == 1 and out.partial_count == 0
    assert any(e.kind == "note" and "ignored stream" in e.message for e in events)


def edit_request(n=2, **kw) -> GenerationRequest:
    images = [ReferenceImage(f"ref{i}.png", REF if i == 0 else image_bytes((40, 40))) for i in range(n)]
    return GenerationRequest(prompt=kw.pop("prompt", "paint it like dusk"), model=kw.pop("model", "gpt-image-1.5"), images=images, **kw)


def test_an_edit_goes_to_the_edits_route_and_answers_from_the_first_image(sandbox, tmp_path):
    store = Store(tmp_path / "db.sqlite")
    req = edit_request(2, mask=ReferenceImage("mask.png", mask_bytes((96, 64)), "mask"), input_fidelity="high")
    with ImageClient(
        settings=ClientSettings(provider="sandbox", base_url=sandbox.base_url, use_fallback=False),
        recorder=store,
        keeper=store.keeper,
        limiter=ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=4),
    ) as client:
        out = client.generate(req)
    assert out.ok, out.error
    info = validate(open(out.images[0].path, "rb").read())
    assert (info.width, info.height) == (96, 64)  # size auto: the first reference image's size
    row = store.attempt(out.attempts[0].attempt_id)
    assert row["url"].endswith("/v1/images/edits")
    assert [(i["role"], i["filename"]) for i in row["inputs"]] == [("image", "ref0.png"), ("image", "ref1.png"), ("mask", "mask.png")]
    images, mask = store.reference_images(row["id"])
    assert images[0].data == REF and mask is not None
    # the inspector: multipart fields with names and sizes, never bytes; curl with -F
    p = out.preview
    assert p.url.endswith("/v1/images/edits") and p.body["image[]"][0].startswith("ref0.png (image/png,")
    assert "-F 'image[]=@ref0.png;type=image/png'" in p.curl and "-F mask=@mask.png" in p.curl.replace("'", "")
    assert base64.b64encode(REF).decode()[:30] not in repr(p)


def test_a_re_run_sends_the_kept_images_again(sandbox, tmp_path):
    store = Store(tmp_path / "db.sqlite")
    settings = ClientSettings(provider="sandbox", base_url=sandbox.base_url, use_fallback=False)
    limiter = ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=4)
    with ImageClient(settings=settings, recorder=store, keeper=store.keeper, limiter=limiter) as client:
        first = client.generate(edit_request(1))
        images, mask = store.reference_images(first.attempts[0].attempt_id)
        again = client.generate(GenerationRequest(prompt="paint it like dusk", model="gpt-image-1.5", images=images, mask=mask))
    assert again.ok and again.images[0].info.sha256 == first.images[0].info.sha256


def test_a_streamed_edit(sandbox):
    events = []
    with client_for(sandbox) as client:
        out = client.generate(edit_request(1, stream=True, partial_images=1), on_event=events.append)
    assert out.ok and out.partial_count == 1 and [e.kind for e in events].count("partial") == 1


@pytest.mark.parametrize(
    "case,code,param",
    [
        ("mask_size", "invalid_mask_dimensions", "mask"),
        ("too_many", "too_many_images", "image"),
        ("gif", "unsupported_file_mimetype", "image"),
    ],
)
def test_sandbox_edit_faults_are_real_error_bodies(sandbox, case, code, param):
    png = image_bytes((64, 48))
    if case == "mask_size":
        files = [("image", ("a.png", png, "image/png")), ("mask", ("m.png", mask_bytes((60, 48)), "image/png"))]
    elif case == "too_many":
        files = [("image[]", (f"{i}.png", png, "image/png")) for i in range(17)]
    else:
        files = [("image", ("a.gif", image_bytes(fmt="GIF", mode="P", colour=1), "image/gif"))]
    r = httpx.post(sandbox.base_url + "/images/edits", data={"prompt": "x", "model": "gpt-image-1.5"}, files=files, timeout=10)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == code and err["param"] == param and err["type"] == "invalid_request_error" and err["message"]


def test_the_client_classifies_an_edit_fault_the_sandbox_reports(sandbox):
    # pre-flight would stop a wrong mask; a provider-side refusal (here: a model the sandbox does not serve) is bad_request
    req = edit_request(1, model="gpt-image-7")
    with client_for(sandbox) as client:
        out = client.generate(req)
    assert not out.ok and out.error.error_type in ("bad_request", "model_not_found") and out.error.status == 400
