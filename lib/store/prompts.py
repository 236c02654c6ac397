"""The prompt library: named prompts with tags, each save of a changed text a new version;
and the results a version's text has had. The rules (names, tags, when a save is a new
version) are ``lib.library``'s."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from lib import library as L


class PromptQueries:
    """Mixed into ``Store``: ``self.db`` is this thread's database, ``self._write_op`` and
    ``self._insert`` the one write path (every value scrubbed)."""

    db: Any
    _write_op: Any
    _insert: Any
    _transaction: Any

    def save_prompt(
        self,
        name: str,
        text: str,
        *,
        tags: str | Iterable[str] | None = None,
        settings: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> dict[str, Any]:
        """Save ``text`` under ``name``: a new prompt, or a new version of the prompt of that
        name (case and spacing aside) when its text differs from the latest version's. Tags
        (when given) replace the prompt's. Returns the prompt with ``version`` (the version
        saved or kept) and ``created`` (whether a version was added). Raises
        ``library.LibraryError`` for a name, tag or text it does not take."""
        from lib.store._store import _scrub_row  # the one redaction step, before the name becomes a key

        clean_name, body = _scrub_row([L.clean_name(name), L.clean_text(text)])
        key = L.name_key(clean_name)
        new_tags = None if tags is None else _scrub_row(L.clean_tags(tags))
        at = time.time() if now is None else now
        blob = _scrub_row([json.dumps(settings, sort_keys=True)])[0] if settings else None

        def op(db: Any) -> dict[str, Any]:
            with db.conn:
                row = db.execute("SELECT id, tags FROM prompts WHERE name_key = ?", [key]).fetchone()
                if row is None:
                    prompt_id = db.execute(
                        "INSERT INTO prompts (name, name_key, tags, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                        [clean_name, key, json.dumps(new_tags or []), at, at],
                    ).lastrowid
                    latest = None
                else:
                    prompt_id = row[0]
                    latest = db.execute(
                        "SELECT version, text FROM prompt_versions WHERE prompt_id = ? ORDER BY version DESC LIMIT 1", [prompt_id]
                    ).fetchone()
                created = L.is_new_version(latest[1] if latest else None, body)
                version = (latest[0] if latest else 0) + 1 if created else latest[0]
                if created:
                    db.execute(
                        "INSERT INTO prompt_versions (prompt_id, version, text, settings, created_at) VALUES (?, ?, ?, ?, ?)",
                        [prompt_id, version, body, blob, at],
                    )
                sets, params = ["updated_at = ?"], [at]
                if new_tags is not None:
                    sets.append("tags = ?")
                    params.append(json.dumps(new_tags))
                if row is not None:
                    sets.append("name = ?")  # the latest spelling of the name is the one shown
                    params.append(clean_name)
                db.execute(f"UPDATE prompts SET {', '.join(sets)} WHERE id = ?", [*params, prompt_id])
            return {"id": prompt_id, "version": version, "created": created}

        saved = self._write_op(op)
        return {**self.prompt(saved["id"]), "version": saved["version"], "created": saved["created"]}

    def prompt(self, prompt_id: int) -> dict[str, Any] | None:
        """One prompt: id, name, tags (a list), created_at, updated_at, versions (the count), latest_text."""
        rows = self._prompt_rows("WHERE p.id = ?", [int(prompt_id)], limit=1)
        return rows[0] if rows else None

    def prompt_named(self, name: str) -> dict[str, Any] | None:
        try:
            key = L.name_key(name)
        except L.LibraryError:
            return None
        rows = self._prompt_rows("WHERE p.name_key = ?", [key], limit=1)
        return rows[0] if rows else None

    def prompts(self, *, search: str = "", tag: str = "", limit: int = 200) -> list[dict[str, Any]]:
        """The library, most recently saved first; ``search`` matches the name or any version's
        text (case aside), ``tag`` one tag exactly."""
        where, params = [], []
        if search.strip():
            needle = search.strip().casefold()
            like = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                "(p.name_key LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM prompt_versions s WHERE s.prompt_id = p.id AND lower(s.text) LIKE ? ESCAPE '\\'))"
            )
            params += [like, like]
        if tag.strip():
            where.append("EXISTS (SELECT 1 FROM json_each(p.tags) WHERE json_each.value = ?)")
            params.append(tag.strip().lstrip("#").casefold())
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        return self._prompt_rows(clause, params, limit=limit)

    def _prompt_rows(self, clause: str, params: list[Any], *, limit: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT p.id, p.name, p.tags, p.created_at, p.updated_at, "
            "(SELECT count(*) FROM prompt_versions v WHERE v.prompt_id = p.id), "
            "(SELECT v.text FROM prompt_versions v WHERE v.prompt_id = p.id ORDER BY v.version DESC LIMIT 1) "
            f"FROM prompts p {clause} ORDER BY p.updated_at DESC, p.id DESC LIMIT ?",
            [*params, int(limit)],
        ).fetchall()
        return [
            {
                "id": r[0],
                "name": r[1],
                "tags": _tags(r[2]),
                "created_at": r[3],
                "updated_at": r[4],
                "versions": r[5],
                "latest_text": r[6] or "",
            }
            for r in rows
        ]

    def prompt_versions(self, prompt_id: int) -> list[dict[str, Any]]:
        """A prompt's versions, oldest first: version, text, settings (a dict or None), created_at."""
        return [
            {"version": r[0], "text": r[1], "settings": json.loads(r[2]) if r[2] else None, "created_at": r[3]}
            for r in self.db.execute(
                "SELECT version, text, settings, created_at FROM prompt_versions WHERE prompt_id = ? ORDER BY version", [int(prompt_id)]
            )
        ]

    def prompt_version(self, name: str, version: int | None = None) -> dict[str, Any] | None:
        """The prompt named ``name`` (case and spacing aside) at ``version`` (the latest when None):
        the prompt's fields with ``version`` and ``text``; None when there is no such prompt or version."""
        found = self.prompt_named(name)
        if found is None:
            return None
        versions = self.prompt_versions(found["id"])
        chosen = versions[-1] if version is None and versions else next((v for v in versions if v["version"] == version), None)
        if chosen is None:
            return None
        return {**found, "version": chosen["version"], "text": chosen["text"], "settings": chosen["settings"]}

    def prompt_tags(self) -> list[tuple[str, int]]:
        """Every tag in the library with how many prompts carry it, the most used first."""
        return [
            (r[0], r[1])
            for r in self.db.execute("SELECT json_each.value, count(*) FROM prompts, json_each(prompts.tags) GROUP BY 1 ORDER BY 2 DESC, 1")
        ]

    def delete_prompt(self, prompt_id: int) -> bool:
        """Delete a prompt and its versions (results made with it stay in History); False when there was none."""
        cursor = self._transaction(
            [("DELETE FROM prompt_versions WHERE prompt_id = ?", [int(prompt_id)]), ("DELETE FROM prompts WHERE id = ?", [int(prompt_id)])]
        )
        return cursor.rowcount > 0

    def results_for_text(self, text: str, *, limit: int = 6) -> list[dict[str, Any]]:
        """The newest succeeded attempts whose prompt is ``text`` exactly, with their first
        image: attempt id, run_id, started_at, provider, model, params (a dict), path."""
        rows = self.db.execute(
            "SELECT a.id, a.run_id, a.started_at, a.provider, a.model, a.params, "
            "(SELECT i.path FROM images i WHERE i.attempt_id = a.id ORDER BY i.id LIMIT 1) "
            "FROM attempts a WHERE a.prompt = ? AND a.status = 'succeeded' ORDER BY a.started_at DESC, a.id DESC LIMIT ?",
            [L.clean_text(text), int(limit)],
        ).fetchall()
        keys = ("id", "run_id", "started_at", "provider", "model", "params", "path")
        return [{**dict(zip(keys, r, strict=True)), "params": _object(r[5])} for r in rows]


def _object(blob: str | None) -> dict[str, Any]:
    try:
        value = json.loads(blob or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _tags(blob: str | None) -> list[str]:
    try:
        value = json.loads(blob or "[]")
    except ValueError:
        return []
    return [str(t) for t in value] if isinstance(value, list) else []
