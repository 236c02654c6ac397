"""The imagelab command line run as a real process, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

SCRIPT = Path(sys.executable).parent / "imagelab"  # the console script `pip install -e .` provides


def command() -> list[str]:
    """The console script, or the module when the script is not installed."""
    return [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "lib.cli"]


def env() -> dict[str, str]:
    """The environment with this checkout first on the path: the console script of an
    editable install elsewhere would otherwise import that other checkout's lib/."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))}


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*command(), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env())
