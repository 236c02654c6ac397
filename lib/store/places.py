"""Places: the inputs a browser left on each page, kept so that a reload finds them again.
Keyed by a random per-browser token; dropped after ``constants.PLACE_KEEP_DAYS``.

A place's reference images are files, content-addressed under ``images/`` like every other image
(``ImageKeeper``), with one ``place_refs`` row each; at most ``PLACE_REFS_MAX_FILES`` files and
``PLACE_REFS_MAX_BYTES`` bytes per place. They go with their place, and a file no other row uses
(a result, an attempt's input, another place) is deleted then."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from lib import constants as C
from lib.errors import InvalidImage

PLACE_REFS_MAX_FILES = C.MAX_REFERENCE_IMAGES + 1  # every reference image an edit takes, and its mask
PLACE_REFS_MAX_BYTES = 32 * 1048576  # of one place's reference images together: more stays in the session only

log = logging.getLogger("imagelab.store")


@dataclass
class PlaceRefs:
    """The reference images a place holds, read back from disk: ``missing`` names the kept files
    no longer in the data directory (they are left out, never a failure)."""

    images: list[Any] = field(default_factory=list)  # lib.generation.ReferenceImage
    mask: Any = None
    note: str = ""
    missing: list[str] = field(default_factory=list)


class PlaceQueries:
    """Mixed into ``Store``: ``self.db`` is this thread's database, ``self._transaction`` the one
    write path (every value scrubbed)."""

    db: Any
    _transaction: Any

    def keep_place(self, token: str, page: str, data: dict[str, Any], *, now: float | None = None) -> None:
        """Keep ``data`` (JSON values only) as this browser's place on ``page``, replacing the last
        one; places past their keeping time are dropped on the way."""
        at = time.time() if now is None else now
        blob = json.dumps(data, sort_keys=True, default=str)
        self._transaction(
            [
                (
                    "INSERT INTO places (token, page, data, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (token, page) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                    [token, page, blob, at],
                ),
                ("DELETE FROM places WHERE updated_at < ?", [at - C.PLACE_KEEP_DAYS * 86400]),
            ]
        )
        self._drop_place_refs("NOT EXISTS (SELECT 1 FROM places p WHERE p.token = place_refs.token AND p.page = place_refs.page)", [])

    def place(self, token: str, page: str, *, now: float | None = None) -> dict[str, Any]:
        """This browser's kept place on ``page``: {} when none was kept, it is past its keeping time,
        or it cannot be read."""
        at = time.time() if now is None else now
        row = self.db.execute(
            "SELECT data FROM places WHERE token = ? AND page = ? AND updated_at >= ?", [token, page, at - C.PLACE_KEEP_DAYS * 86400]
        ).fetchone()
        if row is None:
            return {}
        try:
            data = json.loads(row[0])
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def forget_place(self, token: str, page: str | None = None) -> None:
        """Drop this browser's place on ``page`` (every page when None)."""
        if page is None:
            self._transaction([("DELETE FROM places WHERE token = ?", [token])])
            self._drop_place_refs("token = ?", [token])
        else:
            self._transaction([("DELETE FROM places WHERE token = ? AND page = ?", [token, page])])
            self._drop_place_refs("token = ? AND page = ?", [token, page])

    def keep_place_refs(self, token: str, page: str, images: list[Any], mask: Any = None, *, note: str = "") -> list[str]:
        """Keep ``images`` (``ReferenceImage``s, in order) and ``mask`` as this browser's reference
        images on ``page``, replacing the last ones (none: forgets them), with ``note`` saying where
        they came from. Each is validated and written content-addressed; one that is not an image,
        or past ``PLACE_REFS_MAX_FILES`` or ``PLACE_REFS_MAX_BYTES``, is not kept. Returns the file
        names not kept."""
        at = time.time()
        rows, left, total = [], [], 0
        positions: dict[str, int] = {}
        for ref in [*images, *([mask] if mask is not None else [])]:
            name = str(ref.filename or "")[:200]
            if len(rows) >= PLACE_REFS_MAX_FILES or total + len(ref.data) > PLACE_REFS_MAX_BYTES:
                left.append(name)
                continue
            try:
                saved = self.keeper.save(ref.data, source="input")  # type: ignore[attr-defined]
            except InvalidImage:
                left.append(name)
                continue
            total += saved.info.byte_size
            role = "mask" if ref.role == "mask" else "image"
            position = positions.get(role, 0)
            positions[role] = position + 1
            rows.append([token, page, role, position, saved.info.sha256, saved.rel_path, name, saved.info.byte_size, note[:200], at])
        before = self._place_ref_paths("token = ? AND page = ?", [token, page])
        self._transaction(
            [
                ("DELETE FROM place_refs WHERE token = ? AND page = ?", [token, page]),
                *(
                    (
                        "INSERT INTO place_refs (token, page, role, position, sha256, path, filename, byte_size, note, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        row,
                    )
                    for row in rows
                ),
            ]
        )
        self._drop_unused_files(before)
        return left

    def place_refs(self, token: str, page: str, *, now: float | None = None) -> PlaceRefs:
        """This browser's kept reference images on ``page`` (nothing once its place is past its
        keeping time), read from the data directory."""
        from lib.edits import sniff
        from lib.generation import ReferenceImage

        at = time.time() if now is None else now
        rows = self.db.execute(
            "SELECT r.role, r.path, r.filename, r.note FROM place_refs r JOIN places p ON p.token = r.token AND p.page = r.page "
            "WHERE r.token = ? AND r.page = ? AND p.updated_at >= ? ORDER BY r.role = 'mask', r.position",
            [token, page, at - C.PLACE_KEEP_DAYS * 86400],
        ).fetchall()
        out = PlaceRefs()
        for role, path, filename, note in rows:
            out.note = note or out.note
            try:
                data = self.keeper.resolve(path).read_bytes()  # type: ignore[attr-defined]
            except (OSError, ValueError):
                out.missing.append(filename or path)
                continue
            ref = ReferenceImage(filename or path.rsplit("/", 1)[-1], data, role, sniff(data) or "")
            if role == "mask":
                out.mask = ref
            else:
                out.images.append(ref)
        return out

    def _place_ref_paths(self, where: str, params: list[Any]) -> set[str]:
        return {r[0] for r in self.db.execute(f"SELECT DISTINCT path FROM place_refs WHERE {where}", params)}

    def _drop_place_refs(self, where: str, params: list[Any]) -> None:
        """Delete the place_refs rows ``where`` holds, and the files no row uses any more."""
        paths = self._place_ref_paths(where, params)
        if not paths:
            return
        self._transaction([(f"DELETE FROM place_refs WHERE {where}", params)])
        self._drop_unused_files(paths)

    def _drop_unused_files(self, paths: set[str]) -> None:
        """Delete those of ``paths`` that no place, attempt input or result refers to (and their thumbnails)."""
        for path in paths:
            sha = path.rsplit("/", 1)[-1].split(".", 1)[0]
            used = self.db.execute(
                "SELECT EXISTS (SELECT 1 FROM place_refs WHERE path = ?) OR EXISTS (SELECT 1 FROM images WHERE sha256 = ?) "
                "OR EXISTS (SELECT 1 FROM attempt_inputs WHERE path = ?)",
                [path, sha, path],
            ).fetchone()[0]
            if used:
                continue
            try:
                self.keeper.resolve(path).unlink(missing_ok=True)  # type: ignore[attr-defined]
                for thumb in (self.keeper.root / "thumbs" / sha[:2]).glob(f"{sha}_*.webp"):  # type: ignore[attr-defined]
                    thumb.unlink(missing_ok=True)
            except (OSError, ValueError):
                log.warning("a kept reference image could not be deleted: %s", path)
