"""Gateway dialects: a TOML file that describes a gateway speaking its own task API, so a
Custom provider can use it on every page.

A dialect names the create request (method, path, query, a body template filled from the
app's parameters), where the answer holds the task id (or the images, for a gateway that
answers at once), the poll request, where the status is and its words for done, failed
and pending, where the result images are (JSON held in a string included) and where the
error is. Everything here is pure: it reads text and dicts and builds request specs;
``lib.client`` sends them. A provider's answer is untrusted: paths are read with bounded
depth and JSON strings through ``classify.load_json``.

The file::

    name = "acme tasks"

    [create]
    path = "/api/v1/jobs/createTask"     # "/..." from the host's root; "jobs/create" under the base URL
    [create.body]
    model = "{model}"
    input.prompt = "{prompt}"
    input.image_size = "{size}"
    input.n = "{n}"                       # a placeholder alone keeps its type (a number stays a number)
    [create.answer]
    task_id = "data.taskId"

    [poll]
    path = "/api/v1/jobs/recordInfo"
    query = { taskId = "{task_id}" }
    interval_s = 3
    [poll.answer]
    status = "data.state"
    done = ["success"]
    failed = ["fail"]
    pending = ["waiting", "queuing", "generating"]
    results = "data.resultJson.$json.resultUrls"
    error = "data.failMsg"
    error_code = "data.failCode"

A path is dot-separated keys; ``[0]`` picks a list item, ``[*]`` (or a list met on the way)
takes every item; ``$json`` reads the string found so far as JSON and goes on inside it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from lib.answers import extract_items
from lib.classify import MAX_JSON_DEPTH, load_json

DIALECT_FILE = "dialects.toml"  # or one file per dialect in a dialects/ folder, beside secrets.toml or in the data directory
DIALECT_ENV = "IMAGELAB_DIALECT"  # or dialect = "..." in secrets.toml: the Custom provider's dialect by default
MAX_FILE_BYTES = 64 * 1024
MAX_PATH_STEPS = 32

# The app's parameters a template may name; ``task_id`` only in the poll request.
PLACEHOLDERS = {
    "model": "the model id",
    "prompt": "the prompt",
    "size": "the size as asked (1024x1024, auto)",
    "width": "the width in pixels (absent for auto)",
    "height": "the height in pixels (absent for auto)",
    "quality": "low, medium, high or auto",
    "n": "the number of images",
    "background": "auto, opaque or transparent",
    "output_format": "png, jpeg or webp",
}
POLL_PLACEHOLDERS = {**PLACEHOLDERS, "task_id": "the task id read from the create answer"}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_STEP = re.compile(r"^(?P<key>[^\[\]]*)(?P<idx>(\[(\d+|\*)\])*)$")
_INDEX = re.compile(r"\[(\d+|\*)\]")


class DialectError(ValueError):
    """A dialect file the app cannot use; ``line`` (1-based) where the problem is, when known."""

    def __init__(self, message: str, *, line: int | None = None, source: str = "") -> None:
        self.line = line
        self.source = source
        where = f"{source}: " if source else ""
        where += f"line {line}: " if line else ""
        super().__init__(where + message)
        self.message = message


class DialectProblems(DialectError):
    """Every problem of a file at once, each with its line, so one edit fixes them all."""

    def __init__(self, problems: list[DialectError], *, source: str = "") -> None:
        self.problems = problems
        lines = "\n".join(f"- {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the dialect file:\n{lines}", source=source)


# --------------------------------------------------------------------------
# Paths into an answer
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerPath:
    """A parsed path (``data.items[0].url``, ``data.resultJson.$json.urls``)."""

    text: str
    steps: tuple[tuple[str, Any], ...]  # ("key", name) | ("index", n) | ("all", None) | ("json", None)

    @classmethod
    def parse(cls, text: str) -> AnswerPath:
        raw = str(text or "").strip()
        if not raw:
            raise ValueError("a path cannot be empty")
        steps: list[tuple[str, Any]] = []
        for part in raw.split("."):
            if part == "$json":
                steps.append(("json", None))
                continue
            m = _STEP.match(part)
            if m is None:
                raise ValueError(f"'{part}' is not a key with optional [n] or [*] after it")
            if m.group("key"):
                steps.append(("key", m.group("key")))
            elif not m.group("idx"):
                raise ValueError("a path has an empty step (two dots in a row, or a dot at an end)")
            for idx in _INDEX.findall(m.group("idx")):
                steps.append(("all", None) if idx == "*" else ("index", int(idx)))
        if len(steps) > MAX_PATH_STEPS:
            raise ValueError(f"a path has at most {MAX_PATH_STEPS} steps")
        return cls(raw, tuple(steps))

    def values(self, payload: Any) -> list[Any]:
        """Every value the path reaches (a list met on the way fans out); [] when it reaches none."""
        current = [payload]
        for kind, arg in self.steps:
            nxt: list[Any] = []
            for value in current:
                if kind == "json":
                    if isinstance(value, str):
                        try:
                            nxt.append(load_json(value))
                        except ValueError:
                            pass
                    elif isinstance(value, (dict, list)):
                        nxt.append(value)  # already decoded: a gateway that sends the object itself
                    continue
                if kind == "key":
                    for item in value if isinstance(value, list) else [value]:
                        if isinstance(item, dict) and arg in item:
                            nxt.append(item[arg])
                elif kind == "index":
                    if isinstance(value, list) and -len(value) <= arg < len(value):
                        nxt.append(value[arg])
                elif kind == "all" and isinstance(value, list):
                    nxt.extend(value)
            current = nxt[:10_000]
            if not current:
                return []
        return current

    def first(self, payload: Any) -> Any:
        found = self.values(payload)
        return found[0] if found else None


# --------------------------------------------------------------------------
# The dialect
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestSpec:
    """What to send: ``path`` is from the host's root when ``from_root``, else under the base URL."""

    method: str
    path: str
    from_root: bool
    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    def url(self, base_url: str) -> str:
        """The full URL against a base URL (``https://gw.example.com/v1``)."""
        from urllib.parse import urlencode, urlsplit, urlunsplit

        parts = urlsplit(base_url.rstrip("/"))
        path = self.path if self.from_root else f"{parts.path.rstrip('/')}/{self.path.lstrip('/')}"
        return urlunsplit((parts.scheme, parts.netloc, path, urlencode(self.query) if self.query else "", ""))


@dataclass(frozen=True)
class AnswerRead:
    """What a dialect read from an answer. ``state``: ``done``, ``failed``, ``pending`` or
    ``unknown`` (a status word the dialect does not list); ``items`` are the images found
    (``answers._Item``: kind ``url`` or ``b64``)."""

    state: str
    task_id: str | None = None
    status_word: str | None = None
    items: list[Any] = field(default_factory=list)
    error: str | None = None
    error_code: str | None = None
    progress: float | None = None


@dataclass(frozen=True)
class Dialect:
    name: str
    source: str
    create_method: str
    create_path: str
    create_from_root: bool
    create_query: dict[str, str]
    body: dict[str, Any]
    task_id: AnswerPath | None
    create_results: AnswerPath | None
    create_error: AnswerPath | None
    poll_method: str | None = None
    poll_path: str | None = None
    poll_from_root: bool = True
    poll_query: dict[str, str] = field(default_factory=dict)
    interval_s: float = 3.0
    status: AnswerPath | None = None
    done: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()
    pending: frozenset[str] = frozenset()
    results: AnswerPath | None = None
    error: AnswerPath | None = None
    error_code: AnswerPath | None = None
    progress: AnswerPath | None = None

    @property
    def is_async(self) -> bool:
        return self.poll_path is not None

    def describe(self) -> str:
        """One line for Diagnostics and the sidebar."""
        create = f"{self.create_method} {self.create_path}"
        if not self.is_async:
            return f"{self.name}: {create}, images in the answer ({self.create_results.text if self.create_results else 'read by family'})"
        return (
            f"{self.name}: {create}, task id at {self.task_id.text if self.task_id else '?'}, polled at {self.poll_method} {self.poll_path}"
        )

    # -- requests ---------------------------------------------------------------

    def create_request(self, params: Mapping[str, Any]) -> RequestSpec:
        """The create request for the app's parameters; a body key whose placeholder has no value is left out."""
        values = _values(params)
        return RequestSpec(
            self.create_method,
            _fill_text(self.create_path, values, url=True),
            self.create_from_root,
            _fill_query(self.create_query, values),
            _fill(self.body, values) if self.create_method != "GET" else None,
        )

    def poll_request(self, task_id: str, params: Mapping[str, Any] | None = None) -> RequestSpec:
        if not self.is_async or self.poll_path is None or self.poll_method is None:
            raise DialectError(f"the dialect '{self.name}' has no poll request")
        values = {**_values(params or {}), "task_id": str(task_id)}
        return RequestSpec(
            self.poll_method, _fill_text(self.poll_path, values, url=True), self.poll_from_root, _fill_query(self.poll_query, values)
        )

    # -- answers ----------------------------------------------------------------

    def read_create(self, payload: Any) -> AnswerRead:
        """The create answer: a task id (async), or images (a gateway that answers at once)."""
        error = _text(self.create_error.first(payload)) if self.create_error else None
        if not self.is_async:
            items = _items(self.create_results, payload)
            return AnswerRead("done" if items else ("failed" if error else "unknown"), items=items, error=error)
        task = self.task_id.first(payload) if self.task_id else None
        task_id = _text(task)
        if task_id:
            return AnswerRead("pending", task_id=task_id[:200])
        return AnswerRead("failed" if error else "unknown", error=error)

    def read_poll(self, payload: Any) -> AnswerRead:
        """A poll answer: its status word mapped to done / failed / pending (or unknown), the
        images when done, the error and its code when failed."""
        word = _text(self.status.first(payload)) if self.status else None
        key = (word or "").strip().casefold()
        if key in self.done:
            state = "done"
        elif key in self.failed:
            state = "failed"
        elif key in self.pending:
            state = "pending"
        else:
            state = "unknown"  # a word the file does not list (or no status at all): the client decides
        items = _items(self.results, payload) if state == "done" else []
        error = _text(self.error.first(payload)) if self.error else None
        code = _text(self.error_code.first(payload)) if self.error_code else None
        progress = _number(self.progress.first(payload)) if self.progress else None
        return AnswerRead(state, status_word=word, items=items, error=error, error_code=code, progress=progress)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text[:2000] or None


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _items(path: AnswerPath | None, payload: Any) -> list[Any]:
    if path is None:
        return extract_items(payload)
    out: list[Any] = []
    for value in path.values(payload):
        out.extend(extract_items(value))
    return out


def _values(params: Mapping[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in params.items() if v is not None and v != ""}
    size = str(values.get("size") or "")
    if "x" in size and "width" not in values:
        w, _, h = size.partition("x")
        if w.isdigit() and h.isdigit():
            values["width"], values["height"] = int(w), int(h)
    return values


class _Missing(Exception):
    pass


def _fill_text(template: str, values: Mapping[str, Any], *, url: bool = False) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise _Missing(m.group(1))
        text = str(values[m.group(1)])
        return quote(text, safe="") if url else text

    try:
        return _PLACEHOLDER.sub(sub, template)
    except _Missing as missing:
        if url:
            raise DialectError(f"the route needs {{{missing}}}, and this request has no value for it") from None
        raise


def _fill(template: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(template, dict):
        out: dict[str, Any] = {}
        for key, value in template.items():
            try:
                out[key] = _fill(value, values)
            except _Missing:
                continue  # a parameter the request does not set: the key is left out
        return out
    if isinstance(template, list):
        return [_fill(v, values) for v in template]
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole:
            if whole.group(1) not in values:
                raise _Missing(whole.group(1))
            return values[whole.group(1)]
        return _fill_text(template, values)
    return template


def _fill_query(query: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for key, template in query.items():
        try:
            out[key] = str(_fill(template, values))
        except _Missing:
            continue
    return out


# --------------------------------------------------------------------------
# Reading a file
# --------------------------------------------------------------------------

_TOP_KEYS = {"name", "description", "create", "poll"}
_CREATE_KEYS = {"method", "path", "query", "body", "answer"}
_CREATE_ANSWER_KEYS = {"task_id", "results", "error"}
_POLL_KEYS = {"method", "path", "query", "interval_s", "answer"}
_POLL_ANSWER_KEYS = {"status", "done", "failed", "pending", "results", "error", "error_code", "progress"}


class _Lines:
    """Where a key stands in the file: tomllib gives values, not positions, so the line of a
    table's key is found by reading the file's headers and assignments (dotted keys too)."""

    def __init__(self, text: str) -> None:
        self.where: dict[str, int] = {}
        table = ""
        for no, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            header = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", line)
            if header:
                table = ".".join(p.strip().strip("\"'") for p in header.group(1).split("."))
                self.where.setdefault(table, no)
                continue
            assign = re.match(r"^([A-Za-z0-9_\-\.\"' ]+?)\s*=", line)
            if assign:
                key = ".".join(p.strip().strip("\"'") for p in assign.group(1).split("."))
                full = f"{table}.{key}" if table else key
                self.where.setdefault(full, no)
                parts = full.split(".")
                for i in range(1, len(parts)):  # an inline dotted key also places its parents
                    self.where.setdefault(".".join(parts[:i]), no)

    def line(self, dotted: str) -> int | None:
        parts = dotted.split(".")
        while parts:
            hit = self.where.get(".".join(parts))
            if hit:
                return hit
            parts.pop()
        return None


def parse_dialect(text: str, *, source: str = "", default_name: str = "dialect") -> Dialect:
    """A dialect from the text of its file (named by its ``name``, else ``default_name``), or
    ``DialectProblems`` listing every problem with its line (a TOML syntax error alone:
    ``DialectError`` at its line)."""
    if len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise DialectError(f"the file is larger than {MAX_FILE_BYTES // 1024} KB; a dialect is a few lines", source=source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(err))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err))
        raise DialectError(f"not valid TOML: {message}", line=int(m.group(1)) if m else None, source=source) from None
    return _build(data, _Lines(text), source=source, name=str(data.get("name") or "").strip() or default_name)


def _build(data: dict[str, Any], lines: _Lines, *, source: str, name: str) -> Dialect:
    problems: list[DialectError] = []

    def problem(message: str, at: str) -> None:
        problems.append(DialectError(message, line=lines.line(at), source=source))

    def table(obj: Any, at: str, allowed: set[str]) -> dict[str, Any]:
        if obj is None:
            return {}
        if not isinstance(obj, dict):
            problem(f"'{at}' must be a table", at)
            return {}
        for key in obj:
            if key not in allowed:
                hint = f" (did you mean '{_closest(key, allowed)}'?)" if _closest(key, allowed) else ""
                problem(f"'{at}.{key}' is not a dialect setting{hint}; the settings here are: {', '.join(sorted(allowed))}", f"{at}.{key}")
        return obj

    def path_of(obj: dict[str, Any], key: str, at: str) -> AnswerPath | None:
        if key not in obj:
            return None
        value = obj[key]
        if not isinstance(value, str):
            problem(f"'{at}.{key}' must be a path in quotes, like \"data.task_id\"", f"{at}.{key}")
            return None
        try:
            return AnswerPath.parse(value)
        except ValueError as err:
            problem(f"'{at}.{key}' = \"{value}\": {err}", f"{at}.{key}")
            return None

    def route(obj: dict[str, Any], at: str, known: Mapping[str, str]) -> tuple[str, str, bool, dict[str, str]]:
        method = str(obj.get("method", "POST" if at == "create" else "GET")).upper()
        if method not in ("GET", "POST"):
            problem(f"'{at}.method' must be GET or POST (not '{obj.get('method')}')", f"{at}.method")
        raw_path = obj.get("path")
        path = ""
        if not isinstance(raw_path, str) or not raw_path.strip():
            problem(f"'{at}.path' is missing: the route, like \"/api/v1/tasks\"", at)
        else:
            path = raw_path.strip()
            if "://" in path or path.startswith("//"):
                problem(
                    f"'{at}.path' must be a path on the base URL's host, not a full URL: the key is only sent to that host", f"{at}.path"
                )
            if any(ch in path for ch in " ?#\\") or any(ord(ch) < 32 for ch in path):
                problem(f"'{at}.path' cannot hold spaces, '?', '#' or '\\\\'; put query parameters in '{at}.query'", f"{at}.path")
            _check_placeholders(path, f"{at}.path", known, problem)
        query = obj.get("query", {})
        if not isinstance(query, dict) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in query.values()):
            problem(f"'{at}.query' must be a table of names to texts, like {{ taskId = \"{{task_id}}\" }}", f"{at}.query")
            query = {}
        for key, value in query.items():
            _check_placeholders(str(value), f"{at}.query.{key}", known, problem)
        return method, path, path.startswith("/"), {str(k): str(v) for k, v in query.items()}

    for key in data:
        if key not in _TOP_KEYS:
            hint = f" (did you mean '{_closest(key, _TOP_KEYS)}'?)" if _closest(key, _TOP_KEYS) else ""
            problem(f"'{key}' is not a dialect setting{hint}; the file has: name, description, [create], [poll]", key)
    label = name
    create = table(data.get("create"), "create", _CREATE_KEYS)
    if "create" not in data:
        problems.append(DialectError("the file has no [create] table: the request that starts a generation", line=None, source=source))
    c_method, c_path, c_root, c_query = route(create, "create", PLACEHOLDERS) if create else ("POST", "", True, {})
    body = create.get("body", {})
    if not isinstance(body, dict):
        problem("'create.body' must be a table: the JSON body, with {placeholders}", "create.body")
        body = {}
    _check_body(body, "create.body", problem)
    c_answer = table(create.get("answer"), "create.answer", _CREATE_ANSWER_KEYS)
    task_id = path_of(c_answer, "task_id", "create.answer")
    c_results = path_of(c_answer, "results", "create.answer")
    c_error = path_of(c_answer, "error", "create.answer")

    poll = table(data.get("poll"), "poll", _POLL_KEYS)
    kwargs: dict[str, Any] = {}
    if "poll" in data:
        if task_id is None and "task_id" not in c_answer:
            problem("a dialect that polls needs 'task_id' in [create.answer]: where the create answer holds the task id", "create")
        p_method, p_path, p_root, p_query = route(poll, "poll", POLL_PLACEHOLDERS)
        if p_path and "{task_id}" not in p_path and not any("{task_id}" in v for v in p_query.values()):
            problem("the poll route never names {task_id}: put it in 'poll.path' or 'poll.query'", "poll.path")
        interval = poll.get("interval_s", 3)
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0.5 <= float(interval) <= 60:
            problem("'poll.interval_s' must be a number of seconds from 0.5 to 60", "poll.interval_s")
            interval = 3
        answer = table(poll.get("answer"), "poll.answer", _POLL_ANSWER_KEYS)
        status = path_of(answer, "status", "poll.answer")
        if "status" not in answer:
            problem("'poll.answer.status' is missing: where a poll answer holds the task's status", "poll.answer" if answer else "poll")
        words: dict[str, frozenset[str]] = {}
        for which in ("done", "failed", "pending"):
            raw = answer.get(which, [])
            if isinstance(raw, (str, int)) and not isinstance(raw, bool):
                raw = [raw]
            if not isinstance(raw, list) or not all(isinstance(w, (str, int)) and not isinstance(w, bool) for w in raw):
                problem(f"'poll.answer.{which}' must be a list of status words, like [\"success\"]", f"poll.answer.{which}")
                raw = []
            words[which] = frozenset(str(w).strip().casefold() for w in raw if str(w).strip())
        if not words["done"]:
            problem("'poll.answer.done' is missing: the status word(s) of a finished task", "poll.answer" if answer else "poll")
        overlap = (words["done"] & words["failed"]) | (words["done"] & words["pending"]) | (words["failed"] & words["pending"])
        if overlap:
            problem(f"the status word(s) {', '.join(sorted(overlap))} stand in more than one of done / failed / pending", "poll.answer")
        kwargs = {
            "poll_method": p_method,
            "poll_path": p_path,
            "poll_from_root": p_root,
            "poll_query": p_query,
            "interval_s": float(interval),
            "status": status,
            "done": words["done"],
            "failed": words["failed"],
            "pending": words["pending"],
            "results": path_of(answer, "results", "poll.answer"),
            "error": path_of(answer, "error", "poll.answer"),
            "error_code": path_of(answer, "error_code", "poll.answer"),
            "progress": path_of(answer, "progress", "poll.answer"),
        }
    elif task_id is not None:
        problem("[create.answer] names a task_id but the file has no [poll] table: how is the task polled?", "create.answer.task_id")
    if problems:
        raise DialectProblems(problems, source=source)
    return Dialect(
        name=label[:80],
        source=source,
        create_method=c_method,
        create_path=c_path,
        create_from_root=c_root,
        create_query=c_query,
        body=body,
        task_id=task_id,
        create_results=c_results,
        create_error=c_error,
        **kwargs,
    )


def _check_placeholders(text: str, at: str, known: Mapping[str, str], problem) -> None:
    for m in _PLACEHOLDER.finditer(text):
        if m.group(1) not in known:
            close = _closest(m.group(1), set(known))
            hint = f" (did you mean {{{close}}}?)" if close else ""
            problem(
                f"'{at}' names {{{m.group(1)}}}, which the app does not fill{hint}; it fills: {', '.join('{' + k + '}' for k in known)}", at
            )
    if text.count("{") != text.count("}"):
        problem(f"'{at}' has an unbalanced brace: placeholders are written {{name}}", at)


def _check_body(body: Any, at: str, problem, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH // 4:
        problem(f"'{at}' nests too deep for a request body", at)
        return
    if isinstance(body, dict):
        for key, value in body.items():
            _check_body(value, f"{at}.{key}", problem, depth + 1)
    elif isinstance(body, list):
        for value in body:
            _check_body(value, at, problem, depth + 1)
    elif isinstance(body, str):
        _check_placeholders(body, at, PLACEHOLDERS, problem)


def _closest(word: str, choices: Iterable[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


# --------------------------------------------------------------------------
# Where dialect files are, and reading them
# --------------------------------------------------------------------------


def dialect_files(*folders: Path | None) -> list[Path]:
    """The dialect files in these folders (the data directory, the folder of secrets.toml):
    ``dialects.toml`` (one dialect per table: ``[acme]``, ``[acme.create]``...) and every
    ``*.toml`` in a ``dialects/`` folder (one dialect per file, named by the file)."""
    out: list[Path] = []
    for folder in folders:
        if folder is None:
            continue
        single = Path(folder) / DIALECT_FILE
        if single.is_file():
            out.append(single)
        many = Path(folder) / "dialects"
        if many.is_dir():
            out.extend(sorted(p for p in many.glob("*.toml") if p.is_file()))
    return out


def load_dialects(paths: Iterable[Path]) -> tuple[dict[str, Dialect], list[DialectError]]:
    """Every dialect these files define, by name, and the problems of the files that failed
    (one bad file never hides the others). A name defined twice: the first file wins, and
    the second is a problem."""
    found: dict[str, Dialect] = {}
    problems: list[DialectError] = []
    for path in paths:
        source = str(path)
        try:
            raw = path.read_bytes()
        except OSError as err:
            problems.append(DialectError(f"cannot be read: {err.strerror or err}", source=source))
            continue
        if len(raw) > MAX_FILE_BYTES:
            problems.append(DialectError(f"the file is larger than {MAX_FILE_BYTES // 1024} KB; a dialect is a few lines", source=source))
            continue
        text = raw.decode("utf-8", "replace")
        try:
            if path.name == DIALECT_FILE:
                dialects = _many(text, source)
            else:
                only = parse_dialect(text, source=source, default_name=path.stem)
                dialects = {only.name: only}
        except DialectError as err:
            problems.extend(err.problems if isinstance(err, DialectProblems) else [err])
            continue
        for key, dialect in dialects.items():
            if key in found:
                problems.append(DialectError(f"the dialect '{key}' is already defined in {found[key].source}", source=source))
            else:
                found[key] = dialect
    return found, problems


def _many(text: str, source: str) -> dict[str, Dialect]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        data = None
    if data is None or "create" in data:  # a syntax error (raised with its line), or one dialect at the top
        one = parse_dialect(text, source=source)
        return {one.name: one}
    lines = _Lines(text)
    out: dict[str, Dialect] = {}
    problems: list[DialectError] = []
    for key, value in data.items():
        if not isinstance(value, dict):
            problems.append(
                DialectError(f"'{key}' must be a table: [{key}] with [{key}.create] and [{key}.poll]", line=lines.line(key), source=source)
            )
            continue
        try:
            named = str(value.get("name") or "").strip() or key
            out[named] = _build(value, _Prefixed(lines, key), source=source, name=named)
        except DialectProblems as err:
            problems.extend(err.problems)
    if problems:
        raise DialectProblems(problems, source=source)
    return out


class _Prefixed(_Lines):
    def __init__(self, lines: _Lines, prefix: str) -> None:
        self.where = lines.where
        self.prefix = prefix

    def line(self, dotted: str) -> int | None:
        return super().line(f"{self.prefix}.{dotted}" if dotted else self.prefix)


# --------------------------------------------------------------------------
# "Describe this answer": a starting file from an answer a gateway returned
# --------------------------------------------------------------------------

_ID_WORDS = ("task_id", "taskid", "id", "job_id", "jobid", "request_id", "requestid", "prediction_id", "uuid")
_STATUS_WORDS = ("status", "state", "task_status", "taskstatus", "job_status", "successflag")
_ERROR_WORDS = ("error", "error_message", "errormessage", "failmsg", "fail_msg", "msg", "message", "reason", "detail")
_CODE_WORDS = ("error_code", "errorcode", "failcode", "fail_code", "code")


def describe_answer(text: str) -> dict[str, str]:
    """The paths in a pasted answer that a dialect would read: ``task_id``, ``status`` (with
    the word it holds as ``status_word``), ``results``, ``error``, ``error_code``; only the
    ones found. Raises ValueError for text that is not JSON."""
    payload = load_json(text)
    found: dict[str, str] = {}
    for path, value in _walk(payload):
        leaf = path.rsplit(".", 1)[-1].split("[", 1)[0].casefold()
        if "task_id" not in found and leaf in _ID_WORDS and isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            found["task_id"] = path
        elif "status" not in found and leaf in _STATUS_WORDS and isinstance(value, (str, int)) and not isinstance(value, bool):
            found["status"], found["status_word"] = path, str(value)
        elif (
            "error_code" not in found
            and leaf in _CODE_WORDS
            and value not in (None, "", 0, 200, "0", "200")
            and not isinstance(value, (dict, list))
        ):
            found["error_code"] = path
        elif (
            "error" not in found
            and leaf in _ERROR_WORDS
            and isinstance(value, str)
            and value.strip()
            and value.lower() not in ("success", "ok")
        ):
            found["error"] = path
        if "results" not in found and isinstance(value, str):
            if value.startswith(("http://", "https://", "data:image")) and _looks_like_image(value):
                found["results"] = _list_parent(path)
            elif value.lstrip().startswith(("{", "[")):
                try:
                    inner = load_json(value)
                except ValueError:
                    continue
                for sub, sub_value in _walk(inner):
                    if isinstance(sub_value, str) and sub_value.startswith(("http://", "https://", "data:image")):
                        found["results"] = f"{path}.$json" + ("." + _list_parent(sub) if sub else "")
                        break
    return found


def _looks_like_image(url: str) -> bool:
    lowered = url.split("?", 1)[0].casefold()
    return (
        url.startswith("data:image")
        or lowered.endswith((".png", ".jpg", ".jpeg", ".webp", ".gif"))
        or "image" in lowered
        or "/file" in lowered
    )


def _list_parent(path: str) -> str:
    """``data.urls[0]`` -> ``data.urls`` (every item), else the path itself."""
    return re.sub(r"\[\d+\]$", "", path)


def _walk(obj: Any, path: str = "", depth: int = 0) -> Iterable[tuple[str, Any]]:
    if depth > MAX_JSON_DEPTH:
        return
    if isinstance(obj, dict):
        for key, value in list(obj.items())[:500]:
            sub = f"{path}.{key}" if path else str(key)
            yield sub, value
            yield from _walk(value, sub, depth + 1)
    elif isinstance(obj, list):
        for i, value in enumerate(obj[:50]):
            sub = f"{path}[{i}]"
            yield sub, value
            yield from _walk(value, sub, depth + 1)


def starting_file(found: Mapping[str, str], *, name: str = "my gateway") -> str:
    """A dialect file to start from, filled with what ``describe_answer`` found; what it
    could not find is left as a commented line to fill in."""

    def line(key: str, default: str) -> str:
        return f'{key} = "{found[key]}"' if key in found else f'# {key} = "{default}"   (not found in the answer)'

    status_word = found.get("status_word", "")
    out = [
        f'name = "{name}"',
        "",
        "[create]",
        'path = "/v1/images/generations"   # the route that starts a generation',
        "[create.body]",
        'model = "{model}"',
        'prompt = "{prompt}"',
        'size = "{size}"',
        'n = "{n}"',
        "[create.answer]",
        line("task_id", "data.task_id"),
        "",
        "[poll]",
        'path = "/v1/tasks/{task_id}"   # or a fixed path with query = { taskId = "{task_id}" }',
        "interval_s = 3",
        "[poll.answer]",
        line("status", "data.status"),
        f'done = ["{status_word if status_word.casefold() in ("success", "succeeded", "completed", "done", "finished") else "completed"}"]',
        'failed = ["failed"]',
        'pending = ["pending", "processing"]',
        line("results", "data.images"),
        line("error", "data.error"),
        line("error_code", "data.code"),
        "",
    ]
    return "\n".join(out)


# --------------------------------------------------------------------------
# The dialect a provider uses
# --------------------------------------------------------------------------

OPENAI_COMPATIBLE = ""  # the name of no dialect: the OpenAI image API, read by family


def choose(name: str, paths: Iterable[Path]) -> Dialect | DialectError | None:
    """The dialect called ``name`` in these files; None for ``OPENAI_COMPATIBLE``; a
    ``DialectError`` saying why when it cannot be used (no such name, or its file has
    problems: each with its file and line), for pre-flight to refuse before sending."""
    wanted = str(name or "").strip()
    if not wanted:
        return None
    files = list(paths)
    found, problems = load_dialects(files)
    if wanted in found:
        return found[wanted]
    known = f"the files define: {', '.join(sorted(found))}" if found else "no dialect loaded"
    where = ", ".join(str(p) for p in files) or f"no {DIALECT_FILE} or dialects/ folder was found"
    if problems:
        listed = "\n".join(f"- {p}" for p in problems)
        return DialectError(f"the dialect '{wanted}' is not available ({known}; files: {where}); the files have problems:\n{listed}")
    return DialectError(f"the dialect '{wanted}' is not defined ({known}; files: {where})")


@dataclass(frozen=True)
class AnswerReport:
    """ "Describe this answer": the fields found in a pasted answer (``describe_answer``), a
    starting file made from them, and what the dialect in use reads from it, in words."""

    found: dict[str, str] = field(default_factory=dict)
    starting_file: str = ""
    read: list[str] = field(default_factory=list)
    problem: str = ""  # why nothing could be read (not JSON, too large)

    @property
    def fields(self) -> list[tuple[str, str]]:
        """(what, where) for each field found, in the order a dialect file names them."""
        labels = {
            "task_id": "task id",
            "status": "status",
            "status_word": "its word",
            "results": "results",
            "error": "error",
            "error_code": "error code",
        }
        return [(labels[k], self.found[k]) for k in labels if k in self.found]


def report_answer(text: str, dialect: Dialect | None = None, *, name: str = "my gateway") -> AnswerReport:
    """A pasted answer described: its fields and a starting file; with ``dialect``, also what
    that dialect reads from it as a create answer and as a poll answer. Never raises."""
    raw = str(text or "")
    if not raw.strip():
        return AnswerReport(problem="Paste an answer your gateway returned (a create answer, or a finished poll).")
    if len(raw.encode("utf-8", "replace")) > MAX_FILE_BYTES * 16:
        return AnswerReport(problem=f"The answer is larger than {MAX_FILE_BYTES * 16 // 1024} KB; paste it with its images cut out.")
    try:
        found = describe_answer(raw)
    except ValueError as err:
        return AnswerReport(problem=f"This is not JSON: {err}")
    read: list[str] = []
    if dialect is not None:
        payload = load_json(raw)
        if dialect.is_async:
            created = dialect.read_create(payload)
            where = dialect.task_id.text if dialect.task_id else "?"
            read.append(f"As a create answer: task id at {where}: {created.task_id or 'not found'}.")
            polled = dialect.read_poll(payload)
            status_path = dialect.status.text if dialect.status else "?"
            if polled.status_word is None:
                read.append(f"As a poll answer: no status at {status_path}.")
            else:
                meaning = "not one of the file's words" if polled.state == "unknown" else polled.state
                read.append(f"As a poll answer: status '{polled.status_word[:60]}' at {status_path} ({meaning}).")
            if polled.state == "done":
                results = dialect.results.text if dialect.results else "the image fields"
                read.append(f"Results at {results}: {len(polled.items)} image(s).")
            if polled.error:
                read.append(f"Error at {dialect.error.text if dialect.error else '?'}: {polled.error[:200]}.")
        else:
            created = dialect.read_create(payload)
            read.append(
                f"As an answer with the images: {len(created.items)} image(s)"
                + (f"; error: {created.error[:200]}" if created.error else "")
                + "."
            )
    return AnswerReport(found=found, starting_file=starting_file(found, name=name), read=read)
