"""Streaming and edits figures: SSE parsing speed, a streamed generation (first partial and total) beside
the official SDK, and an edit with 16 reference images (pre-flight and the whole request).
Prints figures; asserts nothing.

    .venv/bin/python benchmarks/media.py [--runs 10]
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from lib.answers import read_image_stream  # noqa: E402
from lib.client import ImageClient  # noqa: E402
from lib.generation import ClientSettings, GenerationRequest, ReferenceImage  # noqa: E402
from lib.limits import ProviderLimiter  # noqa: E402
from lib.preflight import check_media  # noqa: E402
from lib.sandbox import SandboxConfig, SandboxServer  # noqa: E402
from tests.support.memory_recorder import MemoryRecorder  # noqa: E402


def noisy_png(size=1024) -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(out, "PNG", compress_level=1)
    return out.getvalue()


def sse_stream(b64: str, partials: int = 3) -> bytes:
    parts = [
        f'event: image_generation.partial_image\ndata: {{"type":"image_generation.partial_image","b64_json":"{b64}","partial_image_index":{i}}}\n\n'
        for i in range(partials)
    ]
    parts.append(
        f'event: image_generation.completed\ndata: {{"type":"image_generation.completed","b64_json":"{b64}","usage":{{"total_tokens":1}}}}\n\n'
    )
    return "".join(parts).encode()


def parse_speed(rounds: int) -> None:
    b64 = base64.b64encode(noisy_png()).decode()
    data = sse_stream(b64)
    for chunk in (16 * 1024, 64 * 1024):
        chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            result = read_image_stream(iter(chunks))
            times.append(time.perf_counter() - start)
            assert len(result.partials) == 3 and len(result.finals) == 1
        best = min(times)
        print(
            f"SSE parse: {len(data) / 1e6:.1f} MB stream (3 partials + final, noisy 1024x1024 PNG), {chunk // 1024} KB chunks: "
            f"{best * 1000:.0f} ms best of {rounds} = {len(data) / 1e6 / best:.0f} MB/s"
        )


def streamed(server, runs: int) -> None:
    settings = ClientSettings(provider="sandbox", base_url=server.base_url, max_retries=0, use_fallback=False)
    limiter = ProviderLimiter(rate_per_s=1e6, burst=10**6, max_concurrency=64)
    req = GenerationRequest(prompt="a benchmark kite", model="gpt-image-2", size="1024x1024", stream=True, partial_images=2)
    firsts, totals = [], []
    with ImageClient(settings=settings, recorder=MemoryRecorder(), limiter=limiter) as client:
        assert client.generate(req).ok
        for _ in range(runs):
            out = client.generate(req)
            assert out.ok and out.partial_count == 2, out.error
            firsts.append(out.first_partial_ms)
            totals.append(out.latency_ms)
    print(
        f"Streamed generation, ours (2 partials, 1024x1024, zero-latency sandbox, {runs} runs): "
        f"first partial median {statistics.median(firsts):.0f} ms, whole request median {statistics.median(totals):.0f} ms"
    )
    try:
        import openai
    except ImportError:
        return
    sdk = openai.OpenAI(base_url=server.base_url, api_key="sk-bench", max_retries=0)
    firsts, totals = [], []
    for _ in range(runs):
        start = time.perf_counter()
        first = None
        for event in sdk.images.generate(model="gpt-image-2", prompt="a benchmark kite", size="1024x1024", stream=True, partial_images=2):
            if first is None:
                first = time.perf_counter() - start
            base64.b64decode(event.b64_json)
        firsts.append(first * 1000)
        totals.append((time.perf_counter() - start) * 1000)
    print(
        f"Streamed generation, openai SDK (decode only, no validation): first partial median {statistics.median(firsts):.0f} ms, "
        f"whole request median {statistics.median(totals):.0f} ms"
    )


def edit16(server, runs: int) -> None:
    refs = [ReferenceImage(f"ref{i}.png", noisy_png(512)) for i in range(16)]
    req = GenerationRequest(prompt="a benchmark collage", model="gpt-image-1.5", images=refs)
    settings = ClientSettings(provider="sandbox", base_url=server.base_url, max_retries=0, use_fallback=False)
    start = time.perf_counter()
    check_media(req, settings)
    pre = time.perf_counter() - start
    size = sum(r.byte_size for r in refs)
    limiter = ProviderLimiter(rate_per_s=1e6, burst=10**6, max_concurrency=64)
    totals = []
    with ImageClient(settings=settings, recorder=MemoryRecorder(), limiter=limiter) as client:
        for _ in range(runs):
            out = client.generate(req)
            assert out.ok, out.error
            totals.append(out.latency_ms)
    print(
        f"Edit with 16 reference images (noisy 512x512 PNG, {size / 1e6:.1f} MB in all): pre-flight {pre * 1000:.0f} ms; "
        f"whole request (multipart upload, derive, answer) median {statistics.median(totals):.0f} ms over {runs} runs"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    parse_speed(rounds=5)
    with SandboxServer(SandboxConfig(latency_s=(0.0, 0.0))) as server:
        streamed(server, args.runs)
        edit16(server, max(3, args.runs // 3))


if __name__ == "__main__":
    main()
