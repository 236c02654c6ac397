"""Where settings come from: the environment, secrets.toml and what the user typed.

The one place that reads the process environment and ``secrets.toml`` and
turns them, with the values a page or a command line gives, into typed
settings:

- ``Config``: the operator's configuration (environment and secrets), with
  the flags and values read from it (a private image store, the app
  password, the data directory, a price table, the daily budgets) and the key for
  a provider (``key_for``, the key-to-host rule of ``lib.providers``), and
  which providers check a prompt at their moderations route first;
- ``client_settings``: the ``ClientSettings`` of one provider, built in one
  way for the sidebar, Compare's other targets and every CLI command.

Every secret the configuration holds is registered for redaction when it is
loaded (``Config.load``), and so is each key a ``ClientSettings`` is built
with: masking never depends on a value object's constructor.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from lib import constants as C
from lib import redact
from lib.generation import ClientSettings
from lib.providers import HOST_KEYS_TABLE, PRESETS, ResolvedKey, get_provider, resolve_key_for

_TRUE = ("1", "true", "yes", "on")


def truthy(value: Any) -> bool:
    """A flag from the environment or secrets: true, 1, yes, on (any case); a TOML boolean."""
    return value is True or (isinstance(value, str) and value.strip().lower() in _TRUE)


# --------------------------------------------------------------------------
# secrets.toml, as Streamlit reads it


def secrets_paths() -> list[Path]:
    """Where Streamlit reads secrets from: the user's, then the project's (which wins)."""
    return list(_secrets_paths(os.path.expanduser("~"), os.getcwd()))


@lru_cache(maxsize=8)
def _secrets_paths(home: str, cwd: str) -> tuple[Path, ...]:
    return (Path(home) / ".streamlit" / "secrets.toml", Path(cwd) / ".streamlit" / "secrets.toml")


@dataclass(frozen=True)
class SecretsFiles:
    values: dict[str, Any] = field(default_factory=dict)  # merged, top-level keys; the later file wins
    problems: list[str] = field(default_factory=list)  # files that exist but could not be read
    files: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)  # each file read, in order


_files_lock = threading.Lock()
_files_cache: dict[tuple, SecretsFiles] = {}
_files_seen: dict[tuple[str, ...], tuple[float, SecretsFiles]] = {}  # when each set of files was last looked at


def read_secrets_files(paths: list[Path] | None = None) -> SecretsFiles:
    """The secrets files, merged (cached until a file changes). A missing file is no
    problem; an unreadable one is named in ``problems`` and skipped."""
    chosen = secrets_paths() if paths is None else list(paths)
    names = tuple(str(p) for p in chosen)
    now = time.monotonic()
    with _files_lock:
        seen = _files_seen.get(names)
        if seen is not None and now - seen[0] < C.SECRETS_RECHECK_S:
            return seen[1]  # every priced attempt asks: the files are looked at again only now and then
    stamp = []
    for path in chosen:
        try:
            stamp.append((str(path), path.stat().st_mtime_ns))
        except OSError:
            stamp.append((str(path), None))
    key = tuple(stamp)
    with _files_lock:
        if key in _files_cache:
            _files_seen[names] = (now, _files_cache[key])
            return _files_cache[key]
    values: dict[str, Any] = {}
    problems: list[str] = []
    files: list[tuple[Path, dict[str, Any]]] = []
    for path, mtime in stamp:
        if mtime is None:
            continue
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as err:
            problems.append(f"{path}: could not be read ({type(err).__name__})")
            continue
        files.append((Path(path), data))
        values.update(data)
    result = SecretsFiles(values, problems, files)
    with _files_lock:
        _files_cache[key] = result
        _files_seen[names] = (now, result)
    return result


def forget_secrets_files() -> None:
    """Read the files afresh next time (tests, or after editing secrets.toml in a long-lived process)."""
    with _files_lock:
        _files_cache.clear()
        _files_seen.clear()


# --------------------------------------------------------------------------
# The operator's configuration


def _secret_values(secrets: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """The values in the configuration that are secrets: every preset's key (secrets.toml at top
    level, ``[api_keys]``, the environment), every ``[host_keys]`` entry, the app password.
    Not host names, flags or prices: masking those would hide ordinary text."""
    key_envs = {get_provider(p).key_env for p in ("openai", "wisgate", "evolink", "custom")}
    values = [secrets.get(name) for name in key_envs] + [environ.get(name) for name in key_envs]
    for table in (HOST_KEYS_TABLE, "api_keys"):
        entries = secrets.get(table)
        if isinstance(entries, Mapping):
            values.extend(entries.values())
    values += [secrets.get("app_password"), environ.get(C.PASSWORD_ENV)]
    return [v for v in values if isinstance(v, str) and v]


@dataclass(frozen=True)
class Config:
    secrets: Mapping[str, Any] = field(default_factory=dict, repr=False)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, *, secrets: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Config:
        """The configuration of this process: ``secrets`` as given (the app passes Streamlit's),
        else read from the secrets files; ``environ`` as given, else the process environment."""
        values = dict(secrets) if secrets is not None else read_secrets_files().values
        env = dict(environ) if environ is not None else dict(os.environ)
        for secret in _secret_values(values, env):
            redact.register(secret)
        return cls(values, env)

    def flag(self, env_name: str, secret_name: str) -> bool:
        return truthy(self.environ.get(env_name, "")) or truthy(self.secrets.get(secret_name, ""))

    @property
    def allow_private_images(self) -> bool:
        """Result URLs may point at loopback/private addresses (a self-hosted gateway's image store)."""
        return self.flag(C.ALLOW_PRIVATE_IMAGES_VAR, "allow_private_images")

    @property
    def app_password(self) -> str:
        """The optional password that guards every page: ``app_password`` in secrets, else
        $IMAGELAB_PASSWORD; "" for none."""
        value = self.secrets.get("app_password") or self.environ.get(C.PASSWORD_ENV, "")
        return value if isinstance(value, str) else ""

    @property
    def moderation(self) -> ModerationConfig:
        """Which providers check a prompt at their moderations route before the image request (``read_moderation``)."""
        return read_moderation(self.secrets, self.environ)

    @property
    def budget(self) -> BudgetConfig:
        """The operator's daily budgets per provider and confirmation threshold (``read_budget``)."""
        return read_budget(self.secrets, self.environ)

    @property
    def dialect_name(self) -> str:
        """The Custom provider's default dialect: ``dialect`` in secrets, else $IMAGELAB_DIALECT; "" for OpenAI-compatible."""
        from lib.dialects import DIALECT_ENV

        value = self.secrets.get("dialect") or self.environ.get(DIALECT_ENV, "")
        return value.strip() if isinstance(value, str) else ""

    def key_for(self, provider_id: str, *, base_url: str | None = None, typed: str = "") -> ResolvedKey:
        """The key for a provider at ``base_url``: typed > [host_keys] > secrets > environment, bound
        to its host (``lib.providers.resolve_key_for``)."""
        return resolve_key_for(get_provider(provider_id), base_url=base_url, typed=typed, secrets=self.secrets, environ=self.environ)


# --------------------------------------------------------------------------
# Spend guardrails: daily budgets per provider, the confirmation threshold


def parse_usd(raw: Any, *, label: str = "The amount") -> tuple[float | None, str | None]:
    """A dollar amount typed or configured: (value, None), or (None, what is wrong).

    Takes numbers and text such as "5", "2.50", "$1,000"; refuses what is negative, not a
    number, not finite or above ``BUDGET_MAX_USD``, saying which. Empty text is (None, None):
    no amount."""
    import math

    span = f"from $0 to ${C.BUDGET_MAX_USD:,.0f}"
    if isinstance(raw, bool):
        return None, f"{label} must be a dollar amount {span}."
    if raw is None:
        return None, None
    if isinstance(raw, (int, float)):
        value = float(raw)
    else:
        text = str(raw).strip().replace(",", "").replace("_", "")
        text = text[1:].strip() if text.startswith("$") else text
        if not text:
            return None, None
        try:
            value = float(text)
        except ValueError:
            return None, f"{label}: '{str(raw)[:40]}' is not a dollar amount; enter one {span}, e.g. 5 or 2.50."
    if not math.isfinite(value):
        return None, f"{label} must be a finite amount {span}."
    if not 0 <= value <= C.BUDGET_MAX_USD:
        return None, f"{label} must be {span}; {value:g} is out of range."
    return value, None


@dataclass(frozen=True)
class BudgetConfig:
    """The operator's spend guardrails, from ``[budget]`` in secrets.toml and the environment.

    ``daily_usd`` maps a provider id to its daily limit in US dollars, ``"*"`` to the limit of
    every provider without one of its own; ``sources`` says where each figure was read.
    Values that are not amounts are left out and named in ``problems``."""

    daily_usd: Mapping[str, float] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    confirm_above_usd: float | None = None
    confirm_source: str = ""
    problems: tuple[str, ...] = ()

    def daily_for(self, provider_id: str) -> tuple[float | None, str]:
        """(limit, where it was read) for one provider: its own figure, else the one for every provider."""
        for key in (provider_id, "*"):
            if key in self.daily_usd:
                return self.daily_usd[key], self.sources[key]
        return None, ""


def read_budget(secrets: Mapping[str, Any], environ: Mapping[str, str]) -> BudgetConfig:
    """``[budget]`` (``default``, a provider id each, ``confirm_above``) wins over the environment
    (``IMAGELAB_DAILY_BUDGET_USD``, ``IMAGELAB_DAILY_BUDGET_USD_OPENAI``..., ``IMAGELAB_CONFIRM_ABOVE_USD``)."""
    daily: dict[str, float] = {}
    sources: dict[str, str] = {}
    problems: list[str] = []
    confirm: tuple[float | None, str] = (None, "")
    table = secrets.get(C.BUDGET_SECRETS_TABLE)
    if table is not None and not isinstance(table, Mapping):
        problems.append(f"[{C.BUDGET_SECRETS_TABLE}] in secrets.toml must be a table; ignored")
        table = None
    candidates: list[tuple[str, Any, str]] = []  # (what, raw value, where), the first found wins
    for key in ("*", *PRESETS):
        name = "default" if key == "*" else key
        env = C.BUDGET_ENV if key == "*" else C.BUDGET_PROVIDER_ENV.format(provider=key.upper())
        if table is not None and name in table:
            candidates.append((key, table[name], f"[{C.BUDGET_SECRETS_TABLE}] {name} in secrets.toml"))
        if environ.get(env, "").strip():
            candidates.append((key, environ[env], f"${env}"))
    if table is not None and "confirm_above" in table:
        candidates.append(("confirm", table["confirm_above"], f"[{C.BUDGET_SECRETS_TABLE}] confirm_above in secrets.toml"))
    if environ.get(C.CONFIRM_ABOVE_ENV, "").strip():
        candidates.append(("confirm", environ[C.CONFIRM_ABOVE_ENV], f"${C.CONFIRM_ABOVE_ENV}"))
    if table is not None:
        known = {"default", "confirm_above", *PRESETS}
        problems.extend(
            f"[{C.BUDGET_SECRETS_TABLE}] {name}: not a provider ({', '.join(PRESETS)}); ignored" for name in table if name not in known
        )
    for key, raw, where in candidates:
        if key in sources or (key == "confirm" and confirm[1]):
            continue  # an earlier source set it
        value, problem = parse_usd(raw, label=where)
        if problem or value is None:
            problems.append((problem or f"{where} is empty") + "; ignored")
            continue
        if key == "confirm":
            confirm = (value, where)
        else:
            daily[key], sources[key] = value, where
    return BudgetConfig(daily, sources, confirm[0], confirm[1], tuple(problems))


# --------------------------------------------------------------------------
# The check before paying: moderation per provider

MODERATION_SECRETS_TABLE = "moderation"  # [moderation] in secrets.toml: default = true, openai = true, evolink = false
MODERATION_ENV = "IMAGELAB_MODERATE"  # every provider without a setting of its own...
MODERATION_PROVIDER_ENV = "IMAGELAB_MODERATE_{provider}"  # ...and one provider (OPENAI, WISGATE, EVOLINK, CUSTOM, SANDBOX)
_FALSE = ("0", "false", "no", "off")


def switch(raw: Any) -> bool | None:
    """An on/off setting: a TOML boolean, or true/1/yes/on and false/0/no/off (any case); None when it is neither."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in (*_TRUE, *_FALSE):
        return raw.strip().lower() in _TRUE
    return None


@dataclass(frozen=True)
class ModerationConfig:
    """The operator's moderation check per provider, from ``[moderation]`` in secrets.toml and the
    environment: ``on`` maps a provider id (``"*"``: every provider without its own) to whether its
    prompts are checked first; ``sources`` says where each was read; values that are not on/off are
    left out and named in ``problems``. Off wherever nothing is set."""

    on: Mapping[str, bool] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def for_provider(self, provider_id: str) -> tuple[bool, str]:
        """(whether the check is on, where that was read) for one provider."""
        for key in (provider_id, "*"):
            if key in self.on:
                return self.on[key], self.sources[key]
        return False, ""


def read_moderation(secrets: Mapping[str, Any], environ: Mapping[str, str]) -> ModerationConfig:
    """``[moderation]`` (``default``, a provider id each) wins over the environment (``IMAGELAB_MODERATE``,
    ``IMAGELAB_MODERATE_OPENAI``...); a provider's own setting wins over the one for every provider."""
    on: dict[str, bool] = {}
    sources: dict[str, str] = {}
    problems: list[str] = []
    table = secrets.get(MODERATION_SECRETS_TABLE)
    if table is not None and not isinstance(table, Mapping):
        problems.append(f"[{MODERATION_SECRETS_TABLE}] in secrets.toml must be a table; ignored")
        table = None
    if table is not None:
        problems.extend(
            f"[{MODERATION_SECRETS_TABLE}] {name}: not a provider ({', '.join(PRESETS)}); ignored"
            for name in table
            if name not in ("default", *PRESETS)
        )
    for key in ("*", *PRESETS):
        name = "default" if key == "*" else key
        env = MODERATION_ENV if key == "*" else MODERATION_PROVIDER_ENV.format(provider=key.upper())
        candidates = []
        if table is not None and name in table:
            candidates.append((table[name], f"[{MODERATION_SECRETS_TABLE}] {name} in secrets.toml"))
        if environ.get(env, "").strip():
            candidates.append((environ[env], f"${env}"))
        for raw, where in candidates:
            value = switch(raw)
            if value is None:
                problems.append(f"{where}: '{str(raw)[:40]}' is not on or off (true/false); ignored")
                continue
            on[key], sources[key] = value, where
            break
    return ModerationConfig(on, sources, tuple(problems))


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The data directory: the override, else $IMAGELAB_DATA_DIR, else ./data. Created on first use."""
    chosen = override or os.environ.get(C.DATA_DIR_ENV) or C.DEFAULT_DATA_DIR
    path = Path(chosen).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def dialect_folders(data: str | os.PathLike | None = None) -> list[Path]:
    """Where dialect files are looked for (``lib.dialects.dialect_files``): the data directory,
    then the folders of the secrets files that exist."""
    folders = [data_dir(data)]
    for path in secrets_paths():
        if path.is_file() and path.parent not in folders:
            folders.append(path.parent)
    return folders


def find_dialects(data: str | os.PathLike | None = None) -> tuple[dict[str, Any], list[Any]]:
    """Every dialect in the files found, by name, and the problems of the files that failed."""
    from lib.dialects import dialect_files, load_dialects

    return load_dialects(dialect_files(*dialect_folders(data)))


def chosen_dialect(provider: str, name: str, data: str | os.PathLike | None = None) -> Any:
    """The ``ClientSettings.dialect`` of a provider: only the Custom provider speaks one; None for OpenAI-compatible."""
    if provider != "custom" or not (name or "").strip():
        return None
    from lib.dialects import choose, dialect_files

    return choose(name, dialect_files(*dialect_folders(data)))


# What carries over when the same settings go to another provider (Compare's other
# targets): everything but the target itself (provider, base URL, key, headers, fallbacks).
SHARED_FIELDS = (
    "connect_timeout_s",
    "read_timeout_s",
    "task_deadline_s",
    "run_deadline_s",
    "max_retries",
    "use_fallback",
    "rate_per_s",
    "burst",
    "max_concurrency",
)


def shared_values(settings: ClientSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in SHARED_FIELDS}


def client_settings(
    config: Config,
    provider: str,
    *,
    base_url: str | None = None,
    key: ResolvedKey | None = None,
    typed_key: str = "",
    typed_source: str = "typed",
    **values: Any,
) -> ClientSettings:
    """The settings to send with: the provider, where, with which key (``key`` as resolved,
    else resolved here from ``typed_key`` and the configuration; a typed key is recorded
    as ``typed_source``: ``typed`` in the app, ``argument`` on the command line), whether
    private image stores are allowed, and the typed ``values`` (timeouts, retries, limits,
    fallbacks, headers)."""
    resolved = key if key is not None else config.key_for(provider, base_url=base_url, typed=typed_key)
    source = typed_source if resolved.source == "typed" else resolved.source
    redact.register(resolved.key)
    values.setdefault("allow_private_images", config.allow_private_images)
    if values.get("moderate") is None:  # not chosen on the page or the command line: the operator's setting
        values["moderate"] = config.moderation.for_provider(provider)[0]
    return ClientSettings(provider=provider, base_url=base_url, api_key=resolved.key, key_source=source, key_host=resolved.host, **values)


# --------------------------------------------------------------------------
# Logging


def configure_logging(root: str | os.PathLike, level: int = logging.INFO) -> Path:
    """Log Image Prompt Lab's own messages to ``<data>/logs/imagelab.log`` (rotated)."""
    folder = Path(root) / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "imagelab.log"
    logger = logging.getLogger("imagelab")
    if not any(getattr(h, "baseFilename", None) == str(path) for h in logger.handlers):
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=C.LOG_MAX_BYTES, backupCount=C.LOG_BACKUPS, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(redact.ScrubFilter())  # keys and signed URLs never reach the log file
        logger.addHandler(handler)
    logger.setLevel(level)
    return path
