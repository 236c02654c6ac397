"""Lineage: the chain of runs an image came from, each made from the result of the one before
(``runs.parent_run_id``), and the runs made from a run's result."""

from __future__ import annotations

from typing import Any

from lib import constants as C


class LineageQueries:
    """Mixed into ``Store``: ``self.db`` is this thread's database, ``self._decode`` its JSON reader."""

    db: Any
    _decode: Any
    images_for: Any

    def lineage(self, run_id: str, *, limit: int = C.LINEAGE_MAX_STEPS) -> dict[str, Any]:
        """The chain that led to ``run_id``, oldest first, ending with that run: ``steps`` (run rows,
        each with its ``images`` and ``attempt_id``, its last attempt). ``missing_parent`` is the id
        of a parent no longer recorded, where the chain stops; ``cycle`` is True when the parents
        loop back (a hand-edited database), ``truncated`` when the chain is longer than ``limit``."""
        steps: list[dict[str, Any]] = []
        seen: set[str] = set()
        out: dict[str, Any] = {"steps": steps, "missing_parent": None, "cycle": False, "truncated": False}
        current: str | None = run_id
        while current:
            if current in seen:
                out["cycle"] = True
                break
            if len(steps) >= limit:
                out["truncated"] = True
                break
            rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [current]))
            if not rows:
                if steps:
                    out["missing_parent"] = current
                break
            seen.add(current)
            steps.append(self._decode(rows[0]))
            current = rows[0].get("parent_run_id")
        steps.reverse()
        last = {}
        if steps:
            marks = ", ".join("?" for _ in steps)
            for row in self.db.query(
                f"SELECT run_id, max(id) AS id FROM attempts WHERE run_id IN ({marks}) GROUP BY run_id", [s["id"] for s in steps]
            ):
                last[row["run_id"]] = row["id"]
        images = self.images_for([a for a in last.values() if a is not None])
        for step in steps:
            step["attempt_id"] = last.get(step["id"])
            step["images"] = images.get(step["attempt_id"], []) if step["attempt_id"] is not None else []
        return out

    def children(self, run_id: str) -> list[dict[str, Any]]:
        """The runs made from ``run_id``'s result, oldest first, each with its last attempt's id."""
        sql = (
            "SELECT r.id, r.kind, r.prompt, r.status, r.model, r.created_at, "
            "(SELECT max(a.id) FROM attempts a WHERE a.run_id = r.id) AS attempt_id "
            "FROM runs r WHERE r.parent_run_id = ? AND r.id != ? ORDER BY r.created_at, r.id"
        )
        return list(self.db.query(sql, [run_id, run_id]))

    def result_reference(self, run_id: str, index: int = 0) -> Any:
        """Image ``index`` of a run's result as a ``ReferenceImage`` read from the data directory,
        so "Edit this image" sends it to the edits route. None when the run has no such image;
        FileNotFoundError naming the file when it was deleted from disk."""
        from lib.edits import sniff
        from lib.generation import ReferenceImage

        run = self.run(run_id)  # type: ignore[attr-defined]
        images = (run or {}).get("images") or []
        if not 0 <= index < len(images):
            return None
        row = images[index]
        path = self.keeper.resolve(row["path"])  # type: ignore[attr-defined]
        if not path.is_file():
            raise FileNotFoundError(f"The image {row['path']} of this result is no longer in the data directory.")
        data = path.read_bytes()
        ext = path.suffix.lstrip(".") or (row.get("format") or "png").lower()
        return ReferenceImage(f"result-{row['sha256'][:10]}.{ext}", data, "image", sniff(data) or "")
