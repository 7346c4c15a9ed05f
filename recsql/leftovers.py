"""Temporary names that say who made them, so the next run can remove what a killed run left.

A temporary file or folder is named ``<prefix><pid>-<random>``: a later run removes those whose
process is gone and never those of a run still going (a second export, say). Names from
before this scheme carry no pid; the callers decide whether those are safe to remove.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path


def temporary_name(prefix: str, suffix: str = "") -> str:
    return f"{prefix}{os.getpid()}-{uuid.uuid4().hex[:12]}{suffix}"


def pid_is_running(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def owner_pid(name: str, prefix: str) -> int | None:
    """The pid in a name made by ``temporary_name(prefix)``, or None for any other name."""
    found = re.match(re.escape(prefix) + r"(\d+)-[0-9a-f]{12}", name)
    return int(found.group(1)) if found else None


def remove_stale(folder: Path, prefix: str, *, legacy: re.Pattern[str] | None = None) -> list[Path]:
    """Remove entries of ``folder`` named by ``temporary_name(prefix)`` whose process is gone,
    and entries matching ``legacy`` (old-style temporary names); returns what was removed."""
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        pid = owner_pid(entry.name, prefix)
        stale = (pid is not None and not pid_is_running(pid)) or (
            pid is None and legacy is not None and legacy.fullmatch(entry.name) is not None
        )
        if not stale:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed
