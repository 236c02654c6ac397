"""50 sequential generations of a 1024x1024 PNG against the zero-latency sandbox:
our client (decode + Pillow validation) beside the official openai SDK (+ its base64
decode), in the same run. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/client.py [--runs 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib.client import ImageClient  # noqa: E402
from lib.generation import ClientSettings, GenerationRequest  # noqa: E402
from lib.images import ImageKeeper  # noqa: E402
from lib.limits import ProviderLimiter  # noqa: E402
from lib.sandbox import SandboxConfig, SandboxServer  # noqa: E402
from tests.support.memory_recorder import MemoryRecorder  # noqa: E402

PROMPT = "a benchmark lighthouse on a cliff"


def ours(server, runs: int, keeper=None) -> float:
    settings = ClientSettings(provider="sandbox", base_url=server.base_url, max_retries=0, use_fallback=False)
    limiter = ProviderLimiter(rate_per_s=1e6, burst=10**6, max_concurrency=64)
    with ImageClient(settings=settings, recorder=MemoryRecorder(), limiter=limiter, keeper=keeper) as client:
        req = GenerationRequest(prompt=PROMPT, model="gpt-image-2", size="1024x1024")
        assert client.generate(req).ok  # warm
        start = time.perf_counter()
        for _ in range(runs):
            out = client.generate(req)
            assert out.ok, out.error
        return time.perf_counter() - start


def sdk(server, runs: int, decode_pixels: bool = False) -> float:
    """The official SDK plus base64 decoding; with ``decode_pixels``, also the full
    Pillow decode that our validation does (it catches a broken IDAT that verify() passes)."""
    import io

    import openai
    from PIL import Image

    client = openai.OpenAI(base_url=server.base_url, api_key="sk-bench", max_retries=0)
    client.images.generate(model="gpt-image-2", prompt=PROMPT, size="1024x1024")  # warm
    start = time.perf_counter()
    for _ in range(runs):
        result = client.images.generate(model="gpt-image-2", prompt=PROMPT, size="1024x1024")
        data = base64.b64decode(result.data[0].b64_json)
        assert data[:4] == b"\x89PNG"
        if decode_pixels:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with SandboxServer(SandboxConfig(latency_s=(0.0, 0.0))) as server:
        rows = {
            "ours (decode + validate)": [],
            "ours (+ save to disk)": [],
            "openai SDK (+ b64 decode)": [],
            "openai SDK (+ b64 + pixel decode)": [],
        }
        with tempfile.TemporaryDirectory() as tmp:
            keeper = ImageKeeper(tmp)
            for _ in range(args.rounds):  # interleaved, so drift hits both alike
                rows["ours (decode + validate)"].append(ours(server, args.runs))
                rows["ours (+ save to disk)"].append(ours(server, args.runs, keeper))
                rows["openai SDK (+ b64 decode)"].append(sdk(server, args.runs))
                rows["openai SDK (+ b64 + pixel decode)"].append(sdk(server, args.runs, decode_pixels=True))
    print(f"{args.runs} sequential 1024x1024 PNG generations, zero-latency sandbox, median of {args.rounds} rounds")
    medians = {k: statistics.median(v) for k, v in rows.items()}
    for name, seconds in medians.items():
        print(f"  {name:34s} {seconds:7.3f} s   {seconds / args.runs * 1000:6.1f} ms/generation")
    ratio = medians["ours (decode + validate)"] / medians["openai SDK (+ b64 decode)"]
    print(f"  ratio ours / SDK: {ratio:.2f}x   (target <= 1.0x; the SDK checks nothing)")
    fair = medians["ours (decode + validate)"] / medians["openai SDK (+ b64 + pixel decode)"]
    print(f"  ratio ours / SDK doing the same pixel decode: {fair:.2f}x")


if __name__ == "__main__":
    main()
