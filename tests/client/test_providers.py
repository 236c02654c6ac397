from __future__ import annotations

import pytest

from lib.providers import PRESETS, build_endpoint, check_model, check_size, fallback_chain, get_provider

FINAL = "https://api.example.com/v1/images/generations"


@pytest.mark.parametrize(
    "pasted",
    [
        "https://api.example.com",
        "https://api.example.com/",
        "https://api.example.com/v1",
        "https://api.example.com/v1/",
        "https://api.example.com/v1/images/generations",
        "https://api.example.com/v1/images/generations/",
        "https://api.example.com/v1/v1",
        "https://api.example.com//v1//",
        "  https://api.example.com/v1  ",
    ],
)
def test_endpoint_from_whatever_is_pasted(pasted):
    ep = build_endpoint(pasted)
    assert ep.url == FINAL
    assert ep.ok
    assert "/v1/v1" not in ep.url


def test_doubled_v1_is_reported():
    ep = build_endpoint("https://api.example.com/v1/v1/images/generations")
    assert ep.url == FINAL
    assert any("doubled" in p.message for p in ep.problems)


def test_other_api_prefixes_are_kept():
    assert build_endpoint("https://gw.example.com/api/v1").url == "https://gw.example.com/api/v1/images/generations"
    assert build_endpoint("https://open.example.cn/api/paas/v4").url == "https://open.example.cn/api/paas/v4/images/generations"
    ep = build_endpoint("https://gw.example.com/openai")
    assert ep.url == "https://gw.example.com/openai/v1/images/generations"
    assert any(p.severity == "info" for p in ep.problems)


@pytest.mark.parametrize(
    "pasted",
    [
        "https://api.example.com/v1/image/generation",
        "https://api.example.com/v1/image/generations",
        "https://api.example.com/v1/images/generation",
    ],
)
def test_singular_route_is_flagged(pasted):
    ep = build_endpoint(pasted)
    assert not ep.ok
    assert any("plural" in p.message for p in ep.problems)
    assert ep.url == FINAL  # the suggestion


@pytest.mark.parametrize(
    "pasted",
    [
        "https://api.example.com/v1/models/gpt-image-2",
        "https://api.example.com/v1/images/generations/gpt-image-2",
        "https://api.example.com/gpt-image-1.5/v1",
        "https://api.example.com/v1/gpt-image-2",
        "https://api.example.com/v1/GPT-Image-2/images/generations",
        "https://api.example.com/v1/engines/dall-e-3",
        "https://api.example.com/v1/seedream-4-5/v1/images/generations",
    ],
)
def test_model_in_path_is_refused_with_the_base_url_to_set(pasted):
    ep = build_endpoint(pasted)
    assert not ep.ok
    assert ep.correction == "Remove the model name from the path"
    assert ep.url == FINAL and ep.api_base == "https://api.example.com/v1"  # never /v1/gpt-image-2/v1/images/generations
    (problem,) = [p for p in ep.problems if p.severity == "fail"]
    assert "model name" in problem.message and "Set the base URL to https://api.example.com/v1 " in problem.message


@pytest.mark.parametrize("pasted", ["https://gw.example.com/openai/v1", "https://gw.example.com/image-api/v1", "https://gw.example.com/v1"])
def test_a_path_without_a_model_name_is_kept(pasted):
    ep = build_endpoint(pasted)
    assert ep.ok and not ep.correction and ep.url == pasted + "/images/generations"


def test_wrong_endpoint_pasted():
    ep = build_endpoint("https://api.example.com/v1/chat/completions")
    assert not ep.ok
    assert ep.url == FINAL


def test_plain_http_remote_warns_but_loopback_does_not():
    assert any("unencrypted" in p.message for p in build_endpoint("http://api.example.com/v1").problems)
    assert not build_endpoint("http://127.0.0.1:8765/v1").problems


def test_foreign_host_for_a_preset_warns():
    ep = build_endpoint("https://api.other.com/v1", preset=PRESETS["openai"])
    assert ep.ok
    assert any("not OpenAI" in p.message for p in ep.problems)


@pytest.mark.parametrize("pasted", ["", "   ", "ftp://x.com/v1", "https://"])
def test_unusable_urls(pasted):
    ep = build_endpoint(pasted)
    assert not ep.ok and ep.url == ""


@pytest.mark.parametrize(
    "pasted,words",
    [
        ("ftp://api.example.com/v1", "scheme is 'ftp:'"),
        ("file:///etc/passwd", "scheme is 'file:'"),
        ("javascript:alert(1)", "scheme is 'javascript:'"),
        ("htp://api.example.com/v1", "Did you mean http://?"),
        ("httpss://api.example.com/v1", "Did you mean https://?"),
        ("api.example.com/v1", "no scheme; write it in full, e.g. https://api.example.com/v1"),
        ("localhost:8080/v1", "e.g. http://localhost:8080/v1"),
        ("https://api.exa mple.com/v1", "space or line break at character 16"),
        ("https://api.example.com/v1\n/images", "space or line break"),
        ("https://api.example.com\x00/v1", "control character (U+0000)"),
        ("https://api.example.com\u200b/v1", "control character (U+200B)"),
        ("https://api.example.com:99999/v1", "port"),
        ("https://alice:hunter2@api.example.com/v1", "user name or password"),
        ("https://alice@api.example.com/v1", "user name or password"),
        ("https://alice:hu%40nter2%3A@api.example.com/v1", "user name or password"),
    ],
)
def test_malformed_base_urls_are_refused_from_their_text(pasted, words):
    ep = build_endpoint(pasted)
    assert not ep.ok and ep.url == ""
    (problem,) = ep.problems
    assert problem.severity == "fail" and words in problem.message
    for secret in ("hunter2", "hu%40nter2", "alice"):
        assert secret not in problem.message


def test_a_refused_base_url_is_never_looked_up(monkeypatch):
    import socket

    from lib.client import ImageClient
    from lib.generation import ClientSettings, GenerationRequest
    from tests.support.memory_recorder import MemoryRecorder

    looked_up = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: looked_up.append(a) or [])
    for url in ("ftp://api.example.com/v1", "https://u:secret@api.example.com/v1", "api.example.com/v1", "https://a b.com/v1"):
        settings = ClientSettings(provider="custom", base_url=url, max_retries=0)
        with ImageClient(settings=settings, recorder=MemoryRecorder()) as client:
            out = client.generate(GenerationRequest(prompt="a kite"))
        assert out.error.error_type == "invalid_input" and out.error.param == "base_url", url
        assert "secret" not in out.error.message
    assert looked_up == []


def test_task_urls():
    ep = build_endpoint("https://api.evolink.ai/v1")
    assert ep.task_url_a("abc") == "https://api.evolink.ai/v1/images/generations/abc"
    assert ep.task_url_b("task-1") == "https://api.evolink.ai/v1/tasks/task-1"


@pytest.mark.parametrize(
    "typed,suggestion",
    [
        ("gpt-image2", "gpt-image-2"),
        ("gpt_image_2", "gpt-image-2"),
        ("GPT-Image-2", "gpt-image-2"),
        ("chatgpt-image-2", "gpt-image-2"),
        ("dall-e-4", "gpt-image-2"),
        ("gpt-image-1-5", "gpt-image-1.5"),
        (" gpt-image-1 ", "gpt-image-1"),
    ],
)
def test_near_misses_get_a_suggestion(typed, suggestion):
    mc = check_model(typed, PRESETS["openai"])
    assert not mc.known
    assert mc.near_miss
    assert mc.suggestion == suggestion
    assert suggestion in mc.message


def test_exact_and_unknown_models():
    assert check_model("gpt-image-2", PRESETS["openai"]).known
    unknown = check_model("flux-pro-ultra", PRESETS["custom"])
    assert not unknown.known and not unknown.near_miss
    close = check_model("gpt-imag-1-mini", PRESETS["openai"])
    assert close.suggestion == "gpt-image-1-mini" and not close.near_miss


@pytest.mark.parametrize(
    "size,model,ok",
    [
        ("auto", "gpt-image-2", True),
        ("1024x1024", "gpt-image-1", True),
        ("2048x1152", "gpt-image-2", True),
        ("3840x2160", "gpt-image-2", True),
        ("3840x2176", "gpt-image-2", False),  # over 3840x2160 in pixels
        ("1000x1000", "gpt-image-2", False),  # not divisible by 16
        ("3200x1024", "gpt-image-2", False),  # ratio beyond 3:1
        ("2048x1152", "gpt-image-1.5", False),  # custom sizes need gpt-image-2
        ("big", "gpt-image-2", False),
        ("2K", "seedream-4-5", True),
        ("2048x2048", "seedream-4-5", True),
        ("huge", "seedream-4-5", False),
        ("512x512", "gpt-image-2", False),  # under 655,360 pixels
        ("16x16", "gpt-image-2", False),
        ("816x816", "gpt-image-2", True),  # just above the minimum
        ("2880x2880", "gpt-image-2", True),  # 8,294,400 pixels exactly
        ("2896x2896", "gpt-image-2", False),  # over the pixel budget, no edge over 3840
        ("3840x1280", "gpt-image-2", True),  # 3:1 exactly
        ("3856x1296", "gpt-image-2", False),  # an edge over 3840
        ("1792x1024", "dall-e-3", True),
        ("1536x1024", "dall-e-3", False),
        ("auto", "dall-e-3", False),
        ("512x512", "dall-e-2", True),
        ("1792x1024", "dall-e-2", False),
    ],
)
def test_sizes(size, model, ok):
    assert (check_size(size, model) is None) is ok


@pytest.mark.parametrize(
    "size,rule,nearest",
    [
        ("512x512", "at least 655,360 pixels", "816x816"),
        ("2896x2896", "at most 8,294,400 pixels", "2880x2880"),
        ("1000x1000", "multiples of 16", "1008x1008"),
        ("3200x1024", "3 times the short one", "3120x1040"),
        ("3856x1296", "exceed 3,840", None),
    ],
)
def test_a_refused_size_names_its_rule_and_a_valid_neighbour(size, rule, nearest):
    from lib.providers import nearest_size, parse_size

    message = check_size(size, "gpt-image-2")
    assert rule in message
    suggested = nearest_size(size, "gpt-image-2")
    assert f"Nearest valid size: {suggested}." in message
    assert check_size(suggested, "gpt-image-2") is None
    if nearest:
        assert suggested == nearest
    w, h = parse_size(suggested)
    assert w * h >= 655_360 and max(w, h) <= 3840


@pytest.mark.parametrize("w,h", [(16, 16), (5000, 100), (100, 5000), (3840, 3840), (1, 7000), (999, 1001), (4096, 2304)])
def test_nearest_free_size_is_always_valid(w, h):
    from lib.providers import nearest_free_size

    assert check_size(nearest_free_size(w, h), "gpt-image-2") is None


def test_fixed_size_models_suggest_one_of_their_own_sizes():
    message = check_size("1792x1024", "gpt-image-1.5")
    assert "Nearest: 1536x1024." in message
    assert "Nearest: 1792x1024." in check_size("1600x900", "dall-e-3")


def test_fallback_chain_without_repeats():
    assert fallback_chain("gpt-image-1.5", ("gpt-image-2", "gpt-image-1.5", "seedream-4-5")) == [
        "gpt-image-1.5",
        "gpt-image-2",
        "seedream-4-5",
    ]
    assert fallback_chain("x", None) == ["x"]


def test_presets():
    assert set(PRESETS) == {"openai", "wisgate", "evolink", "custom", "sandbox"}
    assert PRESETS["evolink"].delivery == "task"
    assert PRESETS["openai"].key_env == "OPENAI_API_KEY"
    assert not PRESETS["sandbox"].needs_key
    with pytest.raises(ValueError):
        get_provider("nope")
