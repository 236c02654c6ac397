"""Key pieces hidden in image bytes are found; runs of one byte in pixels are not mistaken for them."""

from lib import redact

KEY = "sk-test-" + "Q" * 40 + "WXYZ"


def test_a_hidden_piece_of_the_key_is_found_in_bytes():
    redact.register(KEY)
    assert redact.contains_secret(b"\x89PNG....tEXtComment\x00" + KEY[:12].upper().encode() + b"\x00")


def test_uniform_pixel_runs_are_not_a_key():
    redact.register(KEY)
    assert not redact.contains_secret(b"\x89PNG" + b"Q" * 64 + b"q" * 64 + b"\x00" * 64)
    # text is still masked in full, runs included
    assert "Q" * 8 not in redact.scrub("echo: " + KEY)


def test_gradients_are_not_a_key():
    redact.register("sk-compare-secret-0123456789abcdefghijklmnopqrstuvwxyz")
    assert not redact.contains_secret(bytes(range(256)))
    assert redact.contains_secret(b"\x00\x01SK-COMPARE-SECRET\x00")
