"""What the command line prints of a provider's text cannot drive the terminal."""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lib.text import _FORMAT_CHARS, TERMINAL_LINE_LIMIT, terminal
from tests.support.cli import run

# Everything a terminal acts on: colour, window title (OSC, BEL- and ST-terminated),
# clear screen and cursor home, BEL, NUL, backspace, carriage return, DEL, 8-bit CSI and
# NEL (C1), a lone ESC, a direction override and a tag character.
HOSTILE = (
    "\x1b[31mred\x1b[0m \x1b]0;owned\x07 \x1b]2;st\x1b\\ \x1b[2J\x1b[H bell\x07 nul\x00 back\x08\x08 cr\rfake "
    "del\x7f c1\x9b31m nel\x85 lone\x1b x \u202ereversed \U000e0041"
)
SAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f]")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain words: gpt-image-1.5, 1024x1024", "plain words: gpt-image-1.5, 1024x1024"),
        ("\x1b[1;31mred\x1b[0m", "red"),
        ("\x1b]0;title\x07after", "after"),
        ("\x1b]8;;http://x.test/\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("\x1b[2J\x1b[Hcleared", "cleared"),
        ("bell\x07", "bell\\u0007"),
        ("nul\x00", "nul\\u0000"),
        ("over\rwrite", "over\\rwrite"),
        ("back\x08", "back\\b"),
        ("del\x7f", "del\\u007f"),
        ("c1\x9b2J", "c1\\u009b2J"),
        ("lone\x1b", "lone\\u001b"),
        ("\x1b]0;never terminated", "\\u001b]0;never terminated"),
        ("a\u202edesrever", "a\\u202edesrever"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("tag\U000e0041", "tag\\udb40\\udc41"),
        ("tab\tkept", "tab\tkept"),
        ("two\nlines", "two\\nlines"),
    ],
)
def test_terminal_on_one_line(text, expected):
    assert terminal(text, newlines=False) == expected


def test_terminal_keeps_line_breaks_only_when_asked():
    assert terminal("one\r\ntwo\nthree\x1b[K") == "one\ntwo\nthree"
    assert terminal("one\ntwo", newlines=False) == "one\\ntwo"


def test_terminal_is_idempotent():
    once = terminal(HOSTILE, newlines=False)
    assert terminal(once, newlines=False) == once
    assert not SAFE.search(once)


def test_terminal_cuts_each_long_line_with_a_marker():
    out = terminal("x" * 30_000 + "\nshort", limit=100)
    first, second = out.split("\n")
    assert first == "x" * 100 + "… (29,900 more characters)"
    assert second == "short"
    assert len(terminal("y" * 30_000)) < TERMINAL_LINE_LIMIT + 40
    assert terminal("z" * 50, limit=None) == "z" * 50


def test_the_cut_never_splits_an_escape():
    out = terminal("ab\x07cd", newlines=False, limit=4)
    assert out == "ab… (3 more characters)"


def test_json_text_stays_the_same_value():
    value = {"m": "\x9b\x85\u202e\u2066x\u2069\U000e0041 \x1b[31m \x00", "n": [1, None]}
    text = json.dumps(value, ensure_ascii=False)
    out = terminal(text, limit=None)
    assert json.loads(out) == value
    assert not SAFE.search(out)


def test_every_invisible_format_character_is_covered():
    categories = ("Cf", "Zl", "Zp", "Cs")
    missing = [hex(c) for c in range(0x80, 0x110000) if unicodedata.category(chr(c)) in categories and not _FORMAT_CHARS.match(chr(c))]
    assert missing == []


class _Answers400(BaseHTTPRequestHandler):
    """A provider whose error message is HOSTILE followed by a very long line."""

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.dumps(
            {"error": {"message": HOSTILE + " " + "w" * 30_000, "type": "invalid_request_error", "param": "size", "code": "bad"}}
        ).encode()
        self.send_response(400)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def hostile_text_provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers400)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_generate_prints_a_provider_message_safely(hostile_text_provider, tmp_path):
    p = run("generate", "--prompt", "an owl", "--base-url", hostile_text_provider, "--no-fallback", "--data-dir", str(tmp_path / "d"))
    assert p.returncode == 1, p.stderr
    assert not any(SAFE.search(line) for line in (p.stdout + p.stderr).split("\n"))
    said = next(line for line in p.stderr.split("\n") if line.startswith("  said: "))
    assert said.startswith("  said: red    bell")  # colours, titles and clearing gone, the words kept
    assert "owned" not in said
    assert "bell\\u0007" in said and "cr\\rfake" in said and "c1\\u009b31m" in said and "\\u202ereversed" in said
    assert re.search(r"… \([\d,]+ more characters\)$", said)
    assert len(said) < 1100


def test_generate_json_stays_exact(hostile_text_provider, tmp_path):
    p = run(
        "generate", "--prompt", "an owl", "--base-url", hostile_text_provider, "--no-fallback", "--data-dir", str(tmp_path / "d"), "--json"
    )
    assert p.returncode == 1, p.stderr
    assert not SAFE.search(p.stdout.rstrip("\n"))
    message = json.loads(p.stdout)["message"]
    assert HOSTILE + " www" in message  # every control as the provider sent it, once parsed
