"""Helpers for the tests that are not tests themselves: servers, recorders, seeds, waits."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the project's root: streamlit_app.py, Makefile, README.md
