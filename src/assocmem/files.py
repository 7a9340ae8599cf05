"""Writing files safely: everything the package writes goes through :func:`atomic_write`.

A job that is killed part-way therefore never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only on success.

    The parent folder is created if needed. On success the temporary file replaces ``path`` with
    :func:`os.replace` (atomic on POSIX); on any exception it is deleted and the exception re-raised,
    so a failed or killed job leaves either the old file or nothing, never a partial one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.touch(exist_ok=False)  # created with the usual umask permissions (mkstemp would give 0600)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def remove_stale_temporaries(target: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that killed writers of ``target`` left (``.<name>.<pid>.<id>.tmp`` whose process is
    gone); those of a writer still running stay. Return the files deleted."""
    target = Path(target)
    removed = []
    for tmp in target.parent.glob(f".{target.name}.*.tmp"):
        pid = tmp.name[len(target.name) + 2:].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def write_json(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` as indented JSON (values JSON cannot hold are written as strings), atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")


def write_csv(table, path: str | os.PathLike[str]) -> None:
    """Write a pandas table as CSV without its index, atomically."""
    with atomic_write(path) as tmp:
        table.to_csv(tmp, index=False)
