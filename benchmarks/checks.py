"""Checks figures: OCR engines compared on text rendered here (chars right, words right, time per image),
time per check per image, and a 4x4 grid against the sandbox with and without the size and text checks.
Prints figures; asserts nothing.

    .venv/bin/python benchmarks/checks.py [--samples 240] [--engines tesseract,tesseract+inverted,rapidocr] [--skip-ocr]

RapidOCR is measured only where rapidocr_onnxruntime is installed (it is not a dependency of the app).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from lib.checks import ocr  # noqa: E402
from lib.checks.text import normalise, piece_score  # noqa: E402

PHRASES = [
    "GRAND OPENING",
    "Fresh Coffee",
    "SALE 50% OFF",
    "Open 24 Hours",
    "Welcome Home",
    "No Parking",
    "Hello World",
    "Summer Festival 2026",
    "Bakery & Cafe",
    "EXIT",
    "Live Music Tonight",
    "Free WiFi",
    "Happy Birthday Anna",
    "The Blue Lantern",
    "Closed on Mondays",
    "Push to Open",
    "Best Pizza in Town",
    "Danger High Voltage",
    "Farmers Market",
    "Join Us Saturday",
    "Quiet Please",
    "Book Club",
    "Keep Left",
    "Midnight Express",
    "Lemonade 2 dollars",
    "Ocean View Hotel",
    "Back in 5 minutes",
    "Vintage Records",
    "Mountain Trail 3 km",
    "Save the Date",
    "Pet Friendly",
    "Garage Sale",
    "Now Hiring",
    "Flower Shop",
    "Jazz Night",
    "Gym Members Only",
    "Wet Floor",
    "Last Chance",
    "City Library",
    "Thank You",
]
FONT_DIRS = ("/usr/share/fonts/truetype", "/usr/share/fonts/opentype")
SIZES = (18, 24, 32, 48, 72)


def fonts() -> list[Path]:
    found = []
    for base in FONT_DIRS:
        found += sorted(p for p in Path(base).rglob("*.ttf") if "Math" not in p.name)
    return found


def render_sample(text: str, font_path: Path, size: int, style: int, rng: random.Random) -> Image.Image:
    """A sign: the text in one font and size on a plain, a dark or a gradient ground, a little off centre."""
    font = ImageFont.truetype(str(font_path), size)
    left, top, right, bottom = font.getbbox(text)
    w, h = max(320, right - left + 80), max(120, bottom - top + 60)
    if style == 0:
        img, ink = Image.new("RGB", (w, h), (250, 250, 245)), (20, 20, 20)
    elif style == 1:
        img, ink = Image.new("RGB", (w, h), (25, 35, 60)), (255, 230, 120)
    else:
        c1 = tuple(rng.randrange(150, 256) for _ in range(3))
        c2 = tuple(rng.randrange(100, 200) for _ in range(3))
        from PIL import ImageOps

        img = ImageOps.colorize(Image.linear_gradient("L").resize((w, h)), c1, c2)
        ink = (10, 10, 40)
    draw = ImageDraw.Draw(img)
    x = (w - (right - left)) // 2 - left + rng.randint(-10, 10)
    y = (h - (bottom - top)) // 2 - top + rng.randint(-5, 5)
    draw.text((x, y), text, font=font, fill=ink)
    return img


def samples(count: int, seed: int = 7) -> list[tuple[str, Image.Image, str, int]]:
    rng = random.Random(seed)
    faces = fonts()
    out = []
    for i in range(count):
        text = PHRASES[i % len(PHRASES)]
        face = faces[rng.randrange(len(faces))]
        size = SIZES[rng.randrange(len(SIZES))]
        out.append((text, render_sample(text, face, size, i % 3, rng), face.stem, size))
    return out


def word_accuracy(truth: str, readings: list[str]) -> float:
    words = normalise(truth).split()
    best = 0.0
    for reading in readings:
        read = set(normalise(reading).split())
        best = max(best, sum(w in read for w in words) / len(words))
    return best


def compare_engines(count: int, names: list[str]) -> None:
    data = samples(count)
    print(f"OCR on {len(data)} rendered signs ({len({d[2] for d in data})} fonts, sizes {SIZES} px, 3 grounds)")
    print(f"{'engine':<22} {'chars right':>11} {'words right':>11} {'exact':>7} {'ms/image p50':>13} {'p95':>7}")
    engines = {
        "tesseract": ocr.TesseractEngine(),
        "tesseract+inverted": ocr.TesseractEngine(invert=True),
        "rapidocr": ocr.RapidOcrEngine(),
    }
    for name in names:
        engine = engines[name]
        if not engine.available:
            print(f"{name:<22} not installed")
            continue
        engine.read(data[0][1])  # warm up (model load)
        chars, words, exact, times = [], [], 0, []
        by_size: dict[int, list[float]] = {}
        for text, image, _face, size in data:
            start = time.perf_counter()
            readings = [r.text for r in engine.read(image)]
            times.append((time.perf_counter() - start) * 1000)
            score, _ = piece_score(text, readings)
            chars.append(score)
            words.append(word_accuracy(text, readings))
            exact += score == 1.0
            by_size.setdefault(size, []).append(score)
        times.sort()
        p95 = times[int(len(times) * 0.95) - 1]
        print(
            f"{name:<22} {statistics.mean(chars):>10.1%} {statistics.mean(words):>10.1%} {exact / len(data):>6.0%} "
            f"{statistics.median(times):>12.0f} {p95:>7.0f}"
        )
        print("   chars right by size: " + ", ".join(f"{s}px {statistics.mean(v):.1%}" for s, v in sorted(by_size.items())))


GRID_PROMPTS = [
    'a bakery window with a sign that says "GRAND OPENING"',
    'a concert poster that reads "JAZZ NIGHT"',
    'a coffee cup with "Fresh Coffee" on it',
    'a road sign saying "Keep Left"',
]
GRID_MODELS = ["gpt-image-2", "gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini"]


def per_check(images: int) -> None:
    """Time of each check on one 1024x1024 sandbox image with a quoted text (the judge: over loopback)."""
    import io

    from lib.checks import CheckRequest, parse_spec, run_checks
    from lib.checks.judge import run_judge
    from lib.client import ImageClient
    from lib.generation import ClientSettings
    from lib.sandbox import SandboxConfig, SandboxServer, render_image
    from tests.support.memory_recorder import MemoryRecorder

    prompts = [f"{p} {i}" for i in range(images) for p in GRID_PROMPTS][:images]
    datas = [render_image(p, 1024, 1024) for p in prompts]
    ref = io.BytesIO()
    Image.open(io.BytesIO(datas[0])).save(ref, "PNG")
    specs = {"size": parse_spec("size"), "text": parse_spec("text")}
    from lib.checks import CheckSpec

    specs["similar"] = CheckSpec("similar", reference=ref.getvalue(), reference_name="ref.png")
    print(f"\nTime per check per image ({images} sandbox images, 1024x1024, one quoted text each)")
    print(f"{'check':<8} {'p50 ms':>8} {'p95 ms':>8} {'passed':>7}")
    for name, spec in specs.items():
        times, passed = [], 0
        for prompt, data in zip(prompts, datas, strict=True):
            start = time.perf_counter()
            [result] = run_checks(data, CheckRequest(prompt=prompt, size="1024x1024"), [spec])
            times.append((time.perf_counter() - start) * 1000)
            passed += result.passed
        times.sort()
        print(f"{name:<8} {statistics.median(times):>8.1f} {times[int(len(times) * 0.95) - 1]:>8.1f} {passed:>4}/{len(times)}")
    with SandboxServer(SandboxConfig(latency_s=(0.0, 0.0))) as server:
        client = ImageClient(settings=ClientSettings(provider="sandbox", base_url=server.base_url, api_key="sk-sandbox-bench"))
        times, passed = [], 0
        for data in datas:
            start = time.perf_counter()
            result = run_judge(client, MemoryRecorder(), rubric="the sign is legible", data=data)
            times.append((time.perf_counter() - start) * 1000)
            passed += result.passed
        times.sort()
        print(
            f"{'judge':<8} {statistics.median(times):>8.1f} {times[int(len(times) * 0.95) - 1]:>8.1f} {passed:>4}/{len(times)}  (sandbox judge, no model latency)"
        )


def grid_with_and_without_checks(latency: float) -> None:
    """A 4x4 grid (4 prompts x 4 models) through `imagelab compare` on the sandbox, without and with --check size --check text."""
    import contextlib
    import io
    import tempfile

    from lib import cli
    from lib.sandbox import SandboxConfig, SandboxServer

    print(f"\n4x4 grid on the sandbox (model latency {latency:.1f} s), imagelab compare, 4 parallel requests")
    with SandboxServer(SandboxConfig(latency_s=(latency, latency))) as server, tempfile.TemporaryDirectory() as tmp:
        base = [
            "compare",
            "--base-url",
            server.base_url,
            "--data-dir",
            tmp,
            "--size",
            "1024x1024",
            "--rate",
            "50",
            "--max-concurrency",
            "4",
        ]
        for p in GRID_PROMPTS:
            base += ["--prompt", p]
        for m in GRID_MODELS:
            base += ["--target", f"sandbox:{m}"]
        for label, extra in (("without checks", []), ("with size + text", ["--check", "size", "--check", "text"])):
            out = io.StringIO()
            start = time.perf_counter()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                code = cli.main(base + extra + ["--json"])
            wall = time.perf_counter() - start
            import json

            doc = json.loads(out.getvalue())
            gate = doc.get("gate")
            verdict = f", {gate['pass_rate']:.0%} of cells pass every check" if gate else ""
            print(f"{label:<18} {wall:>6.1f} s wall, exit {code}{verdict}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=240)
    parser.add_argument("--engines", default="tesseract,tesseract+inverted,rapidocr")
    parser.add_argument("--images", type=int, default=16, help="images for the time per check")
    parser.add_argument("--latency", type=float, default=1.0, help="the sandbox's model latency for the grid")
    parser.add_argument("--skip-ocr", action="store_true", help="skip the OCR engine comparison")
    args = parser.parse_args(argv)
    if not args.skip_ocr:
        compare_engines(args.samples, args.engines.split(","))
    per_check(args.images)
    grid_with_and_without_checks(args.latency)


if __name__ == "__main__":
    main()
