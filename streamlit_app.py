"""Image Prompt Lab: the entry point. `make run` starts it.

Each page draws the shared settings sidebar itself (``ui.page_settings()``):
drawn here, before ``st.navigation``, the sidebar is lost from AppTest's tree
after the first rerun, which would leave it untestable. Whatever a page does
wrong ends here, in one card and the log, never a raw traceback.

The page icon and the navigation icons are emoji: Streamlit draws an emoji favicon as an
inline SVG, while a ``:material/...:`` page icon is fetched from Google's font CDN, and
nothing the app serves may reach outside this machine on its own.
"""

import logging

import streamlit as st

st.set_page_config(page_title="Image Prompt Lab", page_icon="🎨", layout="wide")

from lib import ui  # noqa: E402

if not ui.password_gate():  # optional app password (app_password / IMAGELAB_PASSWORD): guards every page
    st.stop()

page = st.navigation(
    [
        st.Page("pages/generate.py", title="Generate", icon="🖌️", default=True),
        st.Page("pages/compare.py", title="Compare", icon="🔲", url_path="compare"),
        st.Page("pages/history.py", title="History", icon="🕘", url_path="history"),
        st.Page("pages/diagnostics.py", title="Diagnostics", icon="🩺", url_path="diagnostics"),
    ]
)
try:
    page.run()
except Exception as exc:  # st.rerun and st.stop are not Exceptions: they pass through
    logging.getLogger("imagelab.app").exception("page %s failed", page.title)
    ui.show_unexpected(exc)
