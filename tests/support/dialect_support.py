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


def custom_on_sandbox(data_dir: Path, new_app, sandbox):
    """A new session of the app with the README's dialect file installed and the Custom provider at the
    sandbox's address (no dialect chosen yet); ``at.path`` is the file."""
    path = install_readme_dialect(data_dir)
    at = new_app()
    at.sidebar.selectbox(key="provider").set_value("custom").run()
    at.sidebar.text_input(key="base_url__custom").set_value(sandbox.base_url).run()
    at.path = path
    return at
