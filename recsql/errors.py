"""Errors a user can act on, and the one line the CLI prints for any failure.

Library code raises ``RecsqlError`` (or a subclass) when it knows what went wrong and what to
do; ``one_line`` turns that, and the few failures it recognises from DuckDB and the operating
system (a held lock, a file that is not a database, a full disk, an unwritable folder), into a
single sentence. Anything else still becomes one line: the traceback is for ``--debug``.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

import duckdb


class RecsqlError(Exception):
    """A failure whose message already says what happened and what to do."""


class NotBuilt(RecsqlError, LookupError):
    """The warehouse lacks a table dbt or ``recsql train`` makes."""


class FileInUse(RecsqlError):
    """Another process holds the DuckDB file's lock past the wait."""


class NotADatabase(RecsqlError):
    """The file given as the DuckDB file is something else."""


class BadSetting(RecsqlError, ValueError):
    """A setting (environment variable, profile value) that cannot be used."""


class DamagedFile(RecsqlError):
    """A file recsql wrote no longer matches the checksum it recorded."""


LOCK_MARKER = "Conflicting lock is held"
_PID = re.compile(r"\(PID (\d+)\)")


def is_lock_conflict(error: BaseException) -> bool:
    return isinstance(error, duckdb.Error) and LOCK_MARKER in str(error)


def lock_holder(error: BaseException) -> str:
    """``PID n (the command line)`` of the process DuckDB names in a lock error, if it names one."""
    found = _PID.search(str(error))
    if not found:
        return "another process"
    pid = int(found.group(1))
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"another process (PID {pid})"
    words = [word for word in raw.decode(errors="replace").split("\0") if word]
    if words:
        words[0] = Path(words[0]).name  # python3.11, dbt, recsql: not the whole path
    command = " ".join(" ".join(words).split())[:120]  # one line, even for python -c "..."
    return f"another process (PID {pid}: {command})" if command else f"another process (PID {pid})"


def file_in_use(db: Path, error: BaseException, waited: float) -> FileInUse:
    return FileInUse(
        f"{db} is in use by {lock_holder(error)}; waited {waited:g} s. Let it finish (or stop it)"
        " and run again, or wait longer with --wait SECONDS"
    )


def one_line(error: BaseException) -> str:
    """What the CLI prints for ``error``: one line, no traceback."""
    if isinstance(error, RecsqlError):
        return _first_line(str(error))
    if is_lock_conflict(error):
        return (
            f"the DuckDB file is in use by {lock_holder(error)}: let it finish (or stop it) and"
            " run again"
        )
    text = str(error)
    if (isinstance(error, OSError) and error.errno == errno.ENOSPC) or "No space left" in text:
        where = f" writing {error.filename}" if getattr(error, "filename", None) else ""
        return f"no space left on the device{where}: free some space (or point --out/RECSQL_WAREHOUSE elsewhere) and run again"
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return f"cannot use {where}{error.strerror or text}"
    if "not a valid DuckDB database file" in text:
        return _first_line(text.removeprefix("IO Error: ")) + " (pass --db the file dbt builds)"
    return (
        f"{type(error).__name__}: {_first_line(text)} (run `recsql --debug ...` for the traceback)"
    )


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "failed"
