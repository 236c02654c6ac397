"""The README's worked dialect file (the one the docs promise runs against the sandbox), for tests that use it."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
README_DIALECT_NAME = "sandbox jobs"


def readme_dialect_text() -> str:
    """The ```toml block of the README's "Connecting a gateway" section that holds a [create] table."""
    section = README.read_text().split("## Connecting a gateway", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```toml\n(.*?)```", section, re.S) if "[create]" in b]
    assert len(blocks) == 1, "the README's Connecting a gateway section should hold exactly one worked dialect file"
    return blocks[0]


def install_readme_dialect(data_dir: Path) -> Path:
    """The README's file saved where the README says: ``<data>/dialects/sandbox-jobs.toml``."""
    folder = Path(data_dir) / "dialects"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sandbox-jobs.toml"
    path.write_text(readme_dialect_text())
    return path
