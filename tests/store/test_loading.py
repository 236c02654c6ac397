"""The store loads sqlite-utils without pandas and numpy (half a second of every start) and
without its date-parsing recipes until they are used, and hides them from nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_store_and_the_pages_library_load_without_pandas():
    out = run_python("import sys, lib.store, lib.ui; print(sorted(m for m in ('pandas', 'numpy') if m in sys.modules))")
    assert out == "[]"


def test_the_recipes_load_on_first_use_and_work():
    code = """
import sys, lib.store, sqlite_utils
before = "dateutil.parser" in sys.modules
db = sqlite_utils.Database(memory=True)
db["t"].insert({"d": "5 March 2021"})
db["t"].convert("d", lambda v: sqlite_utils.utils.recipes.parsedate(v))
print(before, list(db["t"].rows), "dateutil.parser" in sys.modules)
"""
    assert run_python(code) == "False [{'d': '2021-03-05'}] True"


def test_pandas_still_loads_afterwards_and_the_store_still_writes(tmp_path):
    code = f"""
import sys, lib.store, pandas, numpy
import sqlite_utils
db = sqlite_utils.Database({str(tmp_path / "x.db")!r})
db["t"].insert({{"a": 1, "b": "two"}})
print(type(pandas.DataFrame(list(db["t"].rows))).__name__, numpy.int64(3) + 1)
"""
    assert run_python(code) == "DataFrame 4"


def test_another_thread_importing_pandas_meanwhile_gets_it():
    code = """
import sys, threading
ready, got = threading.Event(), []
def other():
    ready.wait()
    import pandas
    got.append(pandas.__name__)
t = threading.Thread(target=other); t.start()
ready.set()
import lib.store
t.join()
print(got)
"""
    assert run_python(code) == "['pandas']"


def test_the_hiding_finder_is_gone_once_loaded():
    out = run_python("import sys, lib.store; print([type(f).__name__ for f in sys.meta_path if f.__module__ == 'lib.store._sqlite_utils'])")
    assert out == "[]"


def test_the_stores_connections_run_no_sqlite_utils_plugin(tmp_path):
    code = f"""
import sqlite_utils.plugins
from lib.store import Store

class Plugin:
    @sqlite_utils.hookimpl
    def prepare_connection(self, conn):
        raise RuntimeError("a plugin ran on the store's connection")

sqlite_utils.plugins.pm.register(Plugin())
store = Store(data_dir={str(tmp_path)!r})
print(store.db.execute("select count(*) from runs").fetchone()[0])
"""
    assert run_python(code) == "0"
