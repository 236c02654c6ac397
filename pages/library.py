"""Library: saved prompts, their versions side by side with the word diff and their results."""

from lib import ui
from lib.ui.library import library_page

ui.page_settings()
library_page()
