"""The ``judge`` check: a vision model says whether an image meets the user's rubric.

Never on by default, and priced before it runs. One judge call is one request to the provider's
OpenAI-compatible ``POST {base}/chat/completions``: a system message asking for a JSON verdict,
and a user message with the rubric and the image as a ``data:`` URL. This module builds that
body (``judge_body``), estimates its cost (``estimate_cost``) and reads the verdict out of the
answer (``read_verdict``); the request itself goes through the client like any other, and is
recorded as an attempt of a run of kind ``judge``.

The answer is untrusted: the verdict is read from the first choice's message, whether it is
the JSON asked for, JSON inside a code fence or other text, or plain words ("PASS - the fox is
red", "Verdict: fail. No text."). Content given as a list of parts is joined. An answer with
no verdict that can be read is a failed check that quotes what came back (cut short), never a pass.

Cost: input tokens are the text (about four characters a token) plus the image, counted as
OpenAI counts a ``detail: high`` image for its GPT-4o / GPT-4.1 family (fitted within 2048x2048,
then the short side to 768, 170 tokens per 512-pixel tile plus 85); output tokens are taken as
``JUDGE_MAX_OUTPUT_TOKENS`` (the reply is capped there). Prices per 1M tokens: a row of the
``[prices]`` table (lib.pricing, overridable in secrets) when it has ``text_input`` and
``text_output`` for the judge model, else ``JUDGE_PRICES`` (lib.pricing); an unknown model is priced as the
default judge model, and the estimate says so.
"""

from __future__ import annotations

import io
import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from lib.checks._base import CheckResult
from lib.errors import make_error
from lib.images import data_url
from lib.pricing import JUDGE_PRICES, JUDGE_PRICES_CHECKED, find_row

NAME = "judge"
DEFAULT_JUDGE_MODEL = "gpt-4.1-mini"
JUDGE_MAX_OUTPUT_TOKENS = 120
JUDGE_MAX_RUBRIC_CHARS = 2000
JUDGE_IMAGE_SIDE = 1024  # the image is sent at most this size on a side (PNG or its own JPEG)
SYSTEM_PROMPT = (
    "You judge one image against a rubric. Look only at the image. Reply with JSON only, on one line: "
    '{"verdict": "pass" or "fail", "reason": "one short sentence"}.'
)
_CHARS_PER_TOKEN = 4
_TILE_PX = 512


@dataclass(frozen=True)
class JudgeEstimate:
    input_tokens: int
    output_tokens: int
    usd: float
    model: str
    note: str

    def label(self) -> str:
        return f"about ${self.usd:.4f} per image ({self.input_tokens} input + up to {self.output_tokens} output tokens, {self.model})"


def image_tokens(width: int, height: int) -> int:
    """Input tokens of one ``detail: high`` image (GPT-4o / GPT-4.1 rule)."""
    if width <= 0 or height <= 0:
        return 85
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    return 85 + 170 * math.ceil(w / _TILE_PX) * math.ceil(h / _TILE_PX)


def text_tokens(text: str) -> int:
    return max(1, -(-len(text) // _CHARS_PER_TOKEN))


def _prices(model: str, table: dict[str, dict[str, Any]] | None) -> tuple[dict[str, float], str]:
    if table:
        key, row = find_row(model, table)
        if row and isinstance(row.get("text_input"), (int, float)) and isinstance(row.get("text_output"), (int, float)):
            return {"text_input": float(row["text_input"]), "text_output": float(row["text_output"])}, f"priced as {key}"
    key, row = find_row(model, JUDGE_PRICES)
    if row:
        return row, f"priced as {key} (prices of {JUDGE_PRICES_CHECKED})"
    return JUDGE_PRICES[DEFAULT_JUDGE_MODEL], f"no price known for {model}: priced as {DEFAULT_JUDGE_MODEL}"


def sent_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, JUDGE_IMAGE_SIDE / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def estimate_cost(rubric: str, width: int, height: int, *, model: str = DEFAULT_JUDGE_MODEL, table=None) -> JudgeEstimate:
    """What one judge call is expected to cost, before it is made."""
    w, h = sent_size(width, height)
    tokens_in = text_tokens(SYSTEM_PROMPT) + text_tokens(rubric) + image_tokens(w, h)
    prices, note = _prices(model, table)
    usd = (tokens_in * prices["text_input"] + JUDGE_MAX_OUTPUT_TOKENS * prices["text_output"]) / 1_000_000
    return JudgeEstimate(tokens_in, JUDGE_MAX_OUTPUT_TOKENS, usd, model, note)


def usage_cost(usage: Any, model: str, *, table=None) -> float | None:
    """The cost of a judge call from the usage its answer reported (None without usable usage)."""
    if not isinstance(usage, dict):
        return None
    tokens_in, tokens_out = (
        usage.get("prompt_tokens", usage.get("input_tokens")),
        usage.get("completion_tokens", usage.get("output_tokens")),
    )
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (tokens_in, tokens_out)):
        return None
    prices, _ = _prices(model, table)
    return (tokens_in * prices["text_input"] + tokens_out * prices["text_output"]) / 1_000_000


def image_data_url(data: bytes) -> tuple[str, int, int]:
    """The image as a data URL, scaled down to ``JUDGE_IMAGE_SIDE``, and the size sent."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        fmt = (im.format or "PNG").upper()
        w, h = sent_size(*im.size)
        if (w, h) != im.size:
            im = im.resize((w, h), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        if fmt == "JPEG":
            im.convert("RGB").save(out, "JPEG", quality=90)
            mime = "image/jpeg"
        else:
            im.save(out, "PNG")
            mime = "image/png"
    return data_url(out.getvalue(), mime), w, h


def judge_body(rubric: str, data: bytes, *, model: str = DEFAULT_JUDGE_MODEL) -> dict[str, Any]:
    """The chat completions request body for judging one image."""
    url, _w, _h = image_data_url(data)
    return {
        "model": model,
        "max_tokens": JUDGE_MAX_OUTPUT_TOKENS,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Rubric: " + rubric.strip()[:JUDGE_MAX_RUBRIC_CHARS]},
                    {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
                ],
            },
        ],
    }


_WORD = re.compile(r"\b(pass(?:es|ed)?|fail(?:s|ed)?|yes|no)\b", re.I)
_JSON_OBJECT = re.compile(r"\{.*\}", re.S)


def _message_text(answer: Any) -> str | None:
    if not isinstance(answer, dict):
        return None
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message") or {}
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        content = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else None


def _verdict_word(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("pass", "passed", "passes", "yes", "true", "ok"):
            return True
        if word in ("fail", "failed", "fails", "no", "false"):
            return False
    return None


def read_verdict(answer: Any) -> tuple[bool | None, str, str]:
    """(passed, reason, the text read) from a chat completions answer; passed is None when no
    verdict can be read from it."""
    text = _message_text(answer)
    if text is None:
        return None, "The answer holds no message to read a verdict from.", ""
    found = _JSON_OBJECT.search(text)
    if found:
        try:
            obj = json.loads(found.group())
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            verdict = next((_verdict_word(obj[k]) for k in ("verdict", "pass", "passed", "result") if k in obj), None)
            reason = obj.get("reason") or obj.get("explanation") or ""
            if verdict is not None:
                return verdict, " ".join(str(reason).split())[:300], text
    word = _WORD.search(text)
    if word:
        verdict = word.group(1).lower().startswith(("pass", "yes"))
        reason = text[word.end() :].strip(" \t\n:.-—–")
        return verdict, " ".join(reason.split())[:300], text
    return None, "The judge's reply names no verdict.", text


def judge_result(answer: Any, *, rubric: str, model: str, estimate: JudgeEstimate | None = None, table=None) -> CheckResult:
    passed, reason, text = read_verdict(answer)
    usage = answer.get("usage") if isinstance(answer, dict) else None
    detail = {
        "rubric": rubric,
        "model": model,
        "reason": reason,
        "reply": text[:500],
        "estimated_usd": round(estimate.usd, 6) if estimate else None,
        "cost_usd": usage_cost(usage, model, table=table),
    }
    if passed is None:
        return CheckResult(NAME, False, 0.0, detail, f"No verdict could be read: {reason}")
    return CheckResult(NAME, passed, 1.0 if passed else 0.0, detail, f"{'Pass' if passed else 'Fail'}: {reason or 'no reason given'}")


def chat_url(settings: Any) -> str:
    """The chat completions route beside the provider's image routes (same API base)."""
    base = settings.endpoint.api_base
    return f"{base}/chat/completions" if base else ""


def run_judge(
    client: Any,
    recorder: Any,
    *,
    rubric: str,
    data: bytes,
    model: str = DEFAULT_JUDGE_MODEL,
    judged: dict[str, Any] | None = None,
    table=None,
) -> CheckResult:
    """Judge one image through ``client.send`` (the client's bounds, key rules and masking), recorded
    through ``recorder`` as a run of kind ``judge`` with one attempt, like any other request."""
    from PIL import Image

    settings = client.settings
    url = chat_url(settings)
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
        body = judge_body(rubric, data, model=model)
    except Exception as err:  # the result is not an image: nothing to send
        return CheckResult(NAME, False, 0.0, {"rubric": rubric, "error": str(err)}, "The image could not be sent to the judge.")
    estimate = estimate_cost(rubric, width, height, model=model, table=table)
    run_id = recorder.start_run(
        kind="judge",
        label=f"judge: {rubric[:60]}",
        settings={"judge_model": model, "estimated_usd": round(estimate.usd, 6)},
        provider=settings.provider,
        prompt=rubric,
        request={"judged": judged or {}},
    )
    started = time.time()
    attempt_id = recorder.attempt_started(
        {
            "run_id": run_id,
            "started_at": started,
            "provider": settings.provider,
            "url": url,
            "model": model,
            "prompt": rubric,
            "params": {"kind": "judge", **(judged or {})},
            "key_hint": settings.key_hint,
        }
    )
    exchange = client.send("POST", url, json_body=body, deadline_s=settings.read_timeout_s)
    answer: Any = None
    error = exchange.error
    if error is None:
        try:
            answer = json.loads(exchange.content or b"")
        except ValueError:
            error = make_error("bad_response", "The judge's answer is not JSON.")
    fields: dict[str, Any] = {"finished_at": time.time(), "latency_ms": exchange.latency_ms, "http_status": exchange.status}
    if error is not None:
        fields.update(status="failed", error_type=error.error_type, error_message=error.message, error_code=getattr(error, "code", None))
        result = CheckResult(
            NAME, False, 0.0, {"rubric": rubric, "model": model, "error_type": error.error_type}, f"The judge call failed: {error.message}"
        )
    else:
        result = judge_result(answer, rubric=rubric, model=model, estimate=estimate, table=table)
        usage = answer.get("usage") if isinstance(answer, dict) else None
        cost = result.detail.get("cost_usd")
        fields.update(status="succeeded", usage=usage if isinstance(usage, dict) else None, note=result.summary[:300])
        if cost is not None:
            fields.update(cost_usd=cost, cost_basis="usage")
    recorder.attempt_finished(attempt_id, fields)
    recorder.run_finished(run_id, {"finished_at": time.time(), "status": fields["status"], "model": model, "attempts": 1})
    result.detail["judge_run_id"] = run_id
    result.detail["judge_attempt_id"] = attempt_id
    return result


def estimate_total(rubric: str, sizes: list[tuple[int, int]], *, model: str = DEFAULT_JUDGE_MODEL, table=None) -> float:
    """What judging images of these sizes is expected to cost, in all, before any call is made."""
    return sum(estimate_cost(rubric, w or 1024, h or 1024, model=model or DEFAULT_JUDGE_MODEL, table=table).usd for w, h in sizes)


def judge_caller(client: Any, recorder: Any, *, rubric: str, model: str = DEFAULT_JUDGE_MODEL, table=None):
    """``judge(data, judged) -> CheckResult``: one image judged through ``client``, recorded through ``recorder``."""
    return lambda data, judged: run_judge(
        client, recorder, rubric=rubric, data=data, model=model or DEFAULT_JUDGE_MODEL, judged=judged, table=table
    )
