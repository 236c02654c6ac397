"""What a server process loads once and keeps for its whole life: the app's modules.

Their objects (modules, classes, functions) are never freed, so the garbage collector has nothing to
find in them: it is kept off while they load (a collection set off by the imports would walk all of
them), and what is loaded by then is frozen, set apart from every later collection.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def loaded_for_good() -> Iterator[None]:
    gc.freeze()  # what is already loaded (Streamlit) is not walked by the collections to come
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
