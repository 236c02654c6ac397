"""sqlite-utils, imported without pandas and numpy.

When pandas and numpy are installed, sqlite-utils imports both as it loads, only
to map their value types (``numpy.int64``, ``pandas.Timestamp``) to column
types. The store never writes such values, and loading them (pandas brings
pyarrow along) is more than half a second of the app's start, on a page that
draws no table. So the first import of sqlite-utils is made with the two hidden
from the importing thread only: other threads, and every later import of pandas
(History's charts, ``st.dataframe``), see them as usual. If either is already
loaded, sqlite-utils simply gets it.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading

_HIDDEN = frozenset({"pandas", "numpy"})
_hiding = threading.local()


class _HiddenFromThisThread(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if getattr(_hiding, "active", False) and fullname.partition(".")[0] in _HIDDEN:
            raise ModuleNotFoundError(f"{fullname} is not loaded for sqlite-utils", name=fullname)
        return None


def load() -> None:
    if "sqlite_utils.db" in sys.modules:
        return
    finder = _HiddenFromThisThread()
    sys.meta_path.insert(0, finder)
    _hiding.active = True
    try:
        import sqlite_utils  # noqa: F401 - loaded here once, imported by name everywhere else
    finally:
        _hiding.active = False
        sys.meta_path.remove(finder)


load()
