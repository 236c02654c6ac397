"""The optional app password: one sign-in per browser session, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

import streamlit as st

from lib import constants as C
from lib.ui.resources import config


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
        if submitted:
            if hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
                st.session_state["_imagelab_signed_in"] = token
                st.rerun()
            time.sleep(C.PASSWORD_FAIL_DELAY_S)
            st.error("That is not the password.")

    # The sign-in form answers at every page's address, so a shared permalink
    # (/history?attempt=12) opens its page right after sign-in.
    stems = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "pages").glob("*.py") if p.stem.isidentifier())
    pages = [st.Page(sign_in, title="Sign in", icon=":material/lock:", url_path="sign-in", default=True)]
    pages += [st.Page(sign_in, title="Sign in", url_path=stem) for stem in stems]
    st.navigation(pages, position="hidden").run()
    return False
