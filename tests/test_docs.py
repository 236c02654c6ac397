"""The README stays true: the two commands, and every error type in the table."""

from pathlib import Path

from lib.errors import ERROR_TYPES
from lib.sandbox import SCENARIOS
from lib.ui import SCENARIO_LABELS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_two_commands():
    assert "make run" in README and "make test" in README


def test_every_error_type_has_a_row():
    for error_type in ERROR_TYPES:
        assert f"| `{error_type}` |" in README, error_type


def test_scenarios_named_in_the_table_exist():
    import re

    for name in re.findall(r"\*([^*]+)\*", README.split("## Error types")[1].split("## Layout")[0]):
        if name in ("Hangs",):
            continue
        assert any(label.startswith(name.split(" (")[0]) for label in SCENARIO_LABELS.values()), name
    assert set(SCENARIO_LABELS) == set(SCENARIOS)


def test_the_evolink_section_matches_the_rules():
    from lib.providers import EVOLINK_FILES_ROOT, EVOLINK_UPLOAD_PATH, ratio_pixels

    section = README.split("**EvoLink's references and sizes.**")[1].split("## Command line")[0]
    assert f"`16:9` at 2K is {'x'.join(map(str, ratio_pixels('16:9', '2K')))}" in section
    assert f"at 4K {'x'.join(map(str, ratio_pixels('2:1', '4K')))}" in section
    assert EVOLINK_FILES_ROOT + EVOLINK_UPLOAD_PATH in section
    assert "Rehearse on the sandbox" in section and "--rehearse" in section and "callback_url" in README
