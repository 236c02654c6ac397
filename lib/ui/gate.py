"""The optional app password: one sign-in per browser session, compared in constant time,
with wrong guesses throttled per client address and overall.

The throttle is shared by every session of the process (one lock guards it), so opening
more browser tabs or sessions buys no extra guesses. A client address is what Streamlit
reports for the connection (``st.context.ip_address``, the TCP peer, never a header a
client can forge); IPv6 addresses count per /64, the block one user usually holds. When
there is none (the app opened from this machine, or through a reverse proxy on it) every
such visitor shares one address, "local": behind a reverse proxy all users then share the
per-address allowance, and the overall limit still holds. X-Forwarded-For is not trusted,
since any client can send it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from lib.ui.resources import config

FREE_FAILURES = 5  # wrong passwords from one address before it waits
FIRST_LOCKOUT_S = 30.0  # the wait after the next wrong one; each further one doubles it...
MAX_LOCKOUT_S = 15 * 60.0  # ...up to this
FORGET_AFTER_S = 60 * 60.0  # an address with no wrong password for this long starts afresh
OVERALL_FAILURES = 30  # wrong passwords from all addresses together...
OVERALL_WINDOW_S = 10 * 60.0  # ...in this window, before everyone waits for the oldest to leave it
MAX_TRACKED = 10_000  # addresses remembered at most (a flood of addresses cannot grow memory)
LOCAL = "local"  # the address of visitors Streamlit gives none for


def client_key(address: object) -> str:
    """What the throttle counts a visitor by: the IPv4 address, the IPv6 /64, or "local"
    (no address, loopback, or anything that is not an address string)."""
    if not isinstance(address, str) or not address:
        return LOCAL
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return LOCAL
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass
class _Address:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


@dataclass
class SignInThrottle:
    """Counts wrong passwords per client address and overall; thread-safe; ``clock`` injected."""

    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _addresses: dict[str, _Address] = field(default_factory=dict, repr=False)
    _recent: deque[float] = field(default_factory=deque, repr=False)

    def wait_s(self, key: str) -> float:
        """Seconds before ``key`` may try a password again (0: now)."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            entry = self._addresses.get(key)
            own = max(0.0, entry.locked_until - now) if entry else 0.0
            overall = self._recent[0] + OVERALL_WINDOW_S - now if len(self._recent) >= OVERALL_FAILURES else 0.0
            return max(own, overall, 0.0)

    def failed(self, key: str) -> float:
        """Record a wrong password from ``key``; returns the wait it now has."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            entry = self._addresses.get(key)
            if entry is None:
                if len(self._addresses) >= MAX_TRACKED:
                    oldest = min(self._addresses, key=lambda k: self._addresses[k].last_failure)
                    del self._addresses[oldest]
                entry = self._addresses[key] = _Address()
            entry.failures += 1
            entry.last_failure = now
            if entry.failures > FREE_FAILURES:
                entry.locked_until = now + min(MAX_LOCKOUT_S, FIRST_LOCKOUT_S * 2 ** (entry.failures - FREE_FAILURES - 1))
            self._recent.append(now)
        return self.wait_s(key)

    def succeeded(self, key: str) -> None:
        """The right password from ``key``: its count starts afresh (the overall window stays)."""
        with self._lock:
            self._addresses.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._addresses.clear()
            self._recent.clear()

    def _expire(self, now: float) -> None:
        while self._recent and self._recent[0] <= now - OVERALL_WINDOW_S:
            self._recent.popleft()
        stale = [k for k, a in self._addresses.items() if a.locked_until <= now and a.last_failure <= now - FORGET_AFTER_S]
        for key in stale:
            del self._addresses[key]


_THROTTLE = SignInThrottle()


def throttle() -> SignInThrottle:
    """The one throttle of this process, shared by every browser session."""
    return _THROTTLE


def wait_words(seconds: float) -> str:
    """A wait as a person reads it: "45 s", "2 min 30 s", "15 min"."""
    whole = max(1, int(-(-seconds // 1)))
    minutes, secs = divmod(whole, 60)
    if not minutes:
        return f"{secs} s"
    return f"{minutes} min" + (f" {secs} s" if secs else "")


def app_password() -> str:
    """The optional password that guards every page (lib.config); "" for none."""
    return config().app_password


def password_gate() -> bool:
    """True when the visitor may use the app. With a password set, and until it is
    given (compared in constant time, once per browser session), the only page is a
    sign-in form: ``st.navigation`` is still called, with that one page, so Streamlit
    never falls back to listing (and running) the files in pages/."""
    expected = app_password()
    if not expected:
        return True
    token = hashlib.sha256(("imagelab:" + expected).encode()).hexdigest()
    if hmac.compare_digest(str(st.session_state.get("_imagelab_signed_in", "")), token):
        return True

    def sign_in() -> None:
        st.title("Image Prompt Lab")
        st.caption("This deployment is protected by a password. Ask the person who runs it.")
        with st.form("sign_in"):
            given = st.text_input("Password", type="password", key="app_password_input")
            submitted = st.form_submit_button("Sign in", type="primary")
        if not submitted:
            return
        key = client_key(st.context.ip_address)
        limiter = throttle()
        wait = limiter.wait_s(key)
        if wait > 0:  # not even compared: a lockout that a right guess could end would not slow guessing
            st.error(f"Too many wrong passwords. Try again in {wait_words(wait)}.")
            return
        if hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
            limiter.succeeded(key)
            st.session_state["_imagelab_signed_in"] = token
            st.rerun()
        wait = limiter.failed(key)
        if wait > 0:
            st.error(f"That is not the password. Too many wrong passwords: try again in {wait_words(wait)}.")
        else:
            st.error("That is not the password.")

    # The sign-in form answers at every page's address, so a shared permalink
    # (/history?attempt=12) opens its page right after sign-in.
    stems = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "pages").glob("*.py") if p.stem.isidentifier())
    pages = [st.Page(sign_in, title="Sign in", url_path="sign-in", default=True)]
    pages += [st.Page(sign_in, title="Sign in", url_path=stem) for stem in stems]
    st.navigation(pages, position="hidden").run()
    return False
