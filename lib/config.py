"""Where settings come from: the environment, secrets.toml and what the user typed.

The one place that reads the process environment and ``secrets.toml`` and
turns them, with the values a page or a command line gives, into typed
settings:

- ``Config``: the operator's configuration (environment and secrets), with
  the flags and values read from it (a private image store, the app
  password, the data directory, a price table) and the key for a provider
  (``key_for``, the key-to-host rule of ``lib.providers``);
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
from lib.providers import HOST_KEYS_TABLE, ResolvedKey, get_provider, resolve_key_for

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

    def key_for(self, provider_id: str, *, base_url: str | None = None, typed: str = "") -> ResolvedKey:
        """The key for a provider at ``base_url``: typed > [host_keys] > secrets > environment, bound
        to its host (``lib.providers.resolve_key_for``)."""
        return resolve_key_for(get_provider(provider_id), base_url=base_url, typed=typed, secrets=self.secrets, environ=self.environ)


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The data directory: the override, else $IMAGELAB_DATA_DIR, else ./data. Created on first use."""
    chosen = override or os.environ.get(C.DATA_DIR_ENV) or C.DEFAULT_DATA_DIR
    path = Path(chosen).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


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
