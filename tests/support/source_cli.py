"""The imagelab command line of this source tree, run as a real process.

The ``imagelab`` console script imports ``lib`` from wherever the package was installed
in editable mode, which need not be the tree under test (a second checkout sharing the
virtual environment); ``python -m lib.cli`` from the tree's root always runs this tree."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lib.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
