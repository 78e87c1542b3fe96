"""File checksums before, during and after a prepare/restore run, and their table."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote


@dataclass(frozen=True)
class FileState:
    sha256: str
    mode: int
    uid: int
    gid: int
    size: int

    def short(self) -> str:
        return "%s %04o" % (self.sha256[:12], self.mode)


Snapshot = dict[str, FileState]


def file_state(path: Path) -> FileState:
    data = path.read_bytes()
    st = path.stat()
    return FileState(hashlib.sha256(data).hexdigest(), st.st_mode & 0o7777, st.st_uid,
                     st.st_gid, st.st_size)


def snapshot(paths: Iterable[Path], root: Path | None = None) -> Snapshot:
    """State of every existing file in ``paths`` (keys relative to ``root`` if given)."""
    out: Snapshot = {}
    for path in sorted(set(paths)):
        if path.is_file():
            key = unquote(str(path.relative_to(root)) if root else str(path))
            out[key] = file_state(path)
    return out


def tree(root: Path, exclude: Iterable[str] = ()) -> list[Path]:
    """Every regular file below ``root`` except those whose relative path is in ``exclude``."""
    skip = set(exclude)
    out = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if str(path.relative_to(root)) not in skip:
                out.append(path)
    return out


def table(before: Snapshot, prepared: Snapshot, after: Snapshot) -> tuple[str, bool]:
    """A text table of the three states per file, and whether after == before everywhere."""
    rows = []
    all_equal = True
    for key in sorted(set(before) | set(prepared) | set(after)):
        b, p, a = before.get(key), prepared.get(key), after.get(key)
        equal = b == a
        all_equal &= equal
        rows.append((key, b.short() if b else "(absent)",
                     "(same)" if p == b else (p.short() if p else "(absent)"),
                     a.short() if a else "(absent)", "yes" if equal else "NO"))
    head = ("file", "before sha256/mode", "after prepare", "after restore", "equal")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines), all_equal
