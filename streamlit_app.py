"""Image Prompt Lab: the entry point. `make run` starts it.

Each page draws the shared settings sidebar itself (``ui.page_settings()``):
drawn here, before ``st.navigation``, the sidebar is lost from AppTest's tree
after the first rerun, which would leave it untestable. Whatever a page does
wrong ends here, in one card and the log, never a raw traceback.

No page or navigation icons: Streamlit's own favicon is served by this app. A
``:material/...:`` icon (on the page, or on the default page in the navigation, which
Streamlit then uses as the favicon) is fetched from Google's font CDN, and nothing the
app serves may reach outside this machine on its own; an emoji icon loads Streamlit's
emoji catalogue and an image one loads numpy, each a tenth of a second or more of every
cold start.
"""

import contextlib
import logging
import sys

import streamlit as st
from streamlit import delta_generator

from lib.process import loaded_for_good

st.set_page_config(page_title="Image Prompt Lab", layout="wide")

# Streamlit asks once per process, at the first element, whether it runs in a Python REPL, with
# inspect.stack(): it resolves the file of every loaded module, a twentieth of a second of the first
# page. Under `streamlit run` the answer is known.
delta_generator._use_warning_has_been_displayed = True

# The first run in this server process loads the app (unless serve.py has loaded it ahead)
with loaded_for_good() if "lib.ui" not in sys.modules else contextlib.nullcontext():
    from lib import ui

if not ui.password_gate():  # optional app password (app_password / IMAGELAB_PASSWORD): guards every page
    st.stop()

page = st.navigation(
    [
        st.Page("pages/generate.py", title="Generate", default=True),
        st.Page("pages/compare.py", title="Compare", url_path="compare"),
        st.Page("pages/library.py", title="Library", url_path="library"),
        st.Page("pages/history.py", title="History", url_path="history"),
        st.Page("pages/diagnostics.py", title="Diagnostics", url_path="diagnostics"),
    ]
)
try:
    page.run()
except Exception as exc:  # st.rerun and st.stop are not Exceptions: they pass through
    logging.getLogger("imagelab.app").exception("page %s failed", page.title)
    ui.show_unexpected(exc)
