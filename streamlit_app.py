"""Image Prompt Lab: the entry point. `make run` starts it.

Each page draws the shared settings sidebar itself (``ui.page_settings()``):
drawn here, before ``st.navigation``, the sidebar is lost from AppTest's tree
after the first rerun, which would leave it untestable.
"""

import streamlit as st

st.set_page_config(page_title="Image Prompt Lab", page_icon=":material/palette:", layout="wide")

page = st.navigation(
    [
        st.Page("pages/generate.py", title="Generate", icon=":material/brush:", default=True),
        st.Page("pages/history.py", title="History", icon=":material/history:", url_path="history"),
        st.Page("pages/diagnostics.py", title="Diagnostics", icon=":material/checklist:", url_path="diagnostics"),
    ]
)
page.run()
