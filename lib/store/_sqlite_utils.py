"""sqlite-utils, imported without pandas, numpy and its date parser.

When pandas and numpy are installed, sqlite-utils imports both as it loads, only
to map their value types (``numpy.int64``, ``pandas.Timestamp``) to column
types. The store never writes such values, and loading them (pandas brings
pyarrow along) is more than half a second of the app's start, on a page that
draws no table. So the first import of sqlite-utils is made with the two hidden
from the importing thread only: other threads, and every later import of pandas
(History's charts, ``st.dataframe``), see them as usual. If either is already
loaded, sqlite-utils simply gets it.

Its ``recipes`` (the date parsing its command line's ``convert`` offers, through
dateutil, which loads ctypes) are another 40 ms the store never uses: that module
is loaded as a stand-in that runs the real module when one of its names is first
asked for. The stand-in has the real ``__file__``, so a scan of ``sys.modules`` (as
``inspect`` makes for Streamlit's first element) does not load it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types

_HIDDEN = frozenset({"pandas", "numpy"})
_LAZY = frozenset({"sqlite_utils.recipes"})
_hiding = threading.local()


class _HiddenFromThisThread(importlib.abc.MetaPathFinder):
    """What the importing thread sees while sqlite-utils loads: no pandas or numpy, its recipes lazy."""

    def find_spec(self, fullname, path=None, target=None):
        if not getattr(_hiding, "active", False):
            return None
        if fullname.partition(".")[0] in _HIDDEN:
            raise ModuleNotFoundError(f"{fullname} is not loaded for sqlite-utils", name=fullname)
        if fullname in _LAZY:
            real = importlib.machinery.PathFinder.find_spec(fullname, path)
            if real is None or real.loader is None:
                return real
            return importlib.util.spec_from_loader(fullname, _OnFirstUse(real), origin=real.origin)
        return None


class _OnFirstUse(importlib.abc.Loader):
    """A module whose code runs when one of its names is first asked for (once, under a lock)."""

    def __init__(self, real: importlib.machinery.ModuleSpec) -> None:
        self._real_spec = real
        self._real: types.ModuleType | None = None
        self._lock = threading.Lock()

    def create_module(self, spec):
        return None  # a plain module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__file__ = self._real_spec.origin
        module.__getattr__ = self._name  # asked only for names the stand-in does not have

    def _name(self, name: str):
        with self._lock:
            if self._real is None:
                real = importlib.util.module_from_spec(self._real_spec)
                self._real_spec.loader.exec_module(real)
                self._real = real
        return getattr(self._real, name)


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
