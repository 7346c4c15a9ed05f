"""The feedback store: what shoppers did with served lists, on disk before it is acknowledged.

Events are appended as JSON lines to a segment file in ``$RECSQL_WAREHOUSE/feedback/`` named
``<utc time>-<pid>-<seq>.jsonl.part`` while it is open. ``append`` returns only after the lines
are written and fsynced, so an acknowledged event survives ``kill -9`` of the server (and a
power cut). Segments are sealed by an atomic rename to ``.jsonl`` when they grow past a size or
an age, or when the store closes; dbt reads the sealed ones by glob (source ``feedback_events``)
and never sees a half-written line. A server killed mid-segment leaves a ``.part`` file: the
next store on the folder truncates any torn last line (never acknowledged) and seals it.

The store never touches the DuckDB file, so it neither waits for nor blocks ``dbt build`` and
``recsql score``. Concurrent callers share one fsync (group commit) through a writer thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

from recsql import paths

EVENT_TYPES = ("impression", "click", "add_to_cart", "purchase")
SEALED_SUFFIX = ".jsonl"
OPEN_SUFFIX = ".jsonl.part"


def feedback_dir() -> Path:
    """``$RECSQL_WAREHOUSE/feedback``: beside the DuckDB file, git-ignored with the warehouse."""
    return paths.warehouse_dir() / "feedback"


def _fsync_dir(folder: Path) -> None:
    """Make a created or renamed directory entry durable, not only the file's bytes."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_open_segments(folder: Path) -> list[Path]:
    """Seal segments a killed writer left open: drop a torn last line, rename to ``.jsonl``.

    Segments of a live process (its pid is in the name) are left alone. Returns what was sealed.
    """
    sealed = []
    for part in sorted(folder.glob(f"*{OPEN_SUFFIX}")):
        try:
            pid = int(part.name.split("-")[1])
        except (IndexError, ValueError):
            pid = -1
        if pid != os.getpid() and pid > 0 and _pid_alive(pid):
            continue
        data = part.read_bytes()
        keep = data.rfind(b"\n") + 1  # a line without its newline was never acknowledged
        if keep < len(data):
            with part.open("r+b") as handle:
                handle.truncate(keep)
                handle.flush()
                os.fsync(handle.fileno())
        if keep == 0:
            part.unlink()
            continue
        target = part.with_name(part.name.removesuffix(OPEN_SUFFIX) + SEALED_SUFFIX)
        os.replace(part, target)
        sealed.append(target)
    if sealed:
        _fsync_dir(folder)
    return sealed


class FeedbackStore:
    """Append-only JSON-lines segments with group commit; thread-safe.

    ``submit(events)`` queues lines and returns a future that resolves once they are fsynced;
    ``append(events)`` waits for it. Rotation is by ``rotate_bytes`` or ``rotate_seconds`` (the
    most an event waits before dbt can read it), checked by the writer thread.
    """

    def __init__(
        self,
        folder: Path | None = None,
        *,
        rotate_bytes: int = 64 * 1024 * 1024,
        rotate_seconds: float = 10.0,
    ) -> None:
        self.folder = Path(folder) if folder is not None else feedback_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.recovered = recover_open_segments(self.folder)
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self._queue: queue.Queue[tuple[bytes, Future] | None] = queue.Queue()
        self._handle = None
        self._path: Path | None = None
        self._opened_at = 0.0
        self._written = 0
        self._seq = 0
        self.stored = 0  # events fsynced by this store
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="recsql-feedback", daemon=True)
        self._thread.start()

    def submit(self, events: list[dict]) -> Future:
        """Queue ``events``; the future's result is their count, set once they are durable."""
        if self._closed:
            raise RuntimeError("the feedback store is closed")
        lines = b"".join(
            json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
            for event in events
        )
        future: Future = Future()
        self._queue.put((lines, future))
        return future

    def append(self, events: list[dict]) -> int:
        """Write ``events`` and return once they are fsynced."""
        return self.submit(events).result()

    def close(self) -> None:
        """Flush what is queued, seal the open segment and stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- writer thread
    def _run(self) -> None:
        stopping = False
        while not stopping:
            try:
                first = self._queue.get(timeout=min(1.0, self.rotate_seconds))
            except queue.Empty:
                self._rotate_if_due()
                continue
            batch = [first]
            while True:  # everything queued meanwhile shares this fsync
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if None in batch:
                stopping = True
                batch = [item for item in batch if item is not None]
            if batch:
                self._write(batch)
            self._rotate_if_due()
        self._seal()

    def _write(self, batch: list[tuple[bytes, Future]]) -> None:
        try:
            handle = self._open_segment()
            data = b"".join(lines for lines, _ in batch)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            self._written += len(data)
        except BaseException as error:  # the callers learn it: nothing is acknowledged
            for _, future in batch:
                future.set_exception(error)
            self._abandon_segment()
            return
        for lines, future in batch:
            count = lines.count(b"\n")
            self.stored += count
            future.set_result(count)

    def _open_segment(self):
        if self._handle is None:
            self._seq += 1
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            self._path = self.folder / f"{stamp}-{os.getpid()}-{self._seq:06d}{OPEN_SUFFIX}"
            self._handle = self._path.open("ab")
            _fsync_dir(self.folder)
            self._opened_at = time.monotonic()
            self._written = 0
        return self._handle

    def _rotate_if_due(self) -> None:
        if self._handle is None:
            return
        age = time.monotonic() - self._opened_at
        if self._written >= self.rotate_bytes or age >= self.rotate_seconds:
            self._seal()

    def _seal(self) -> None:
        """Close the open segment and rename it to ``.jsonl`` (an empty one is removed)."""
        if self._handle is None or self._path is None:
            return
        self._handle.close()
        path, self._handle, self._path = self._path, None, None
        if self._written == 0:
            path.unlink(missing_ok=True)
            return
        os.replace(path, path.with_name(path.name.removesuffix(OPEN_SUFFIX) + SEALED_SUFFIX))
        _fsync_dir(self.folder)

    def _abandon_segment(self) -> None:
        """After a failed write the segment may end in a torn line: recovery will trim it."""
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
        self._handle, self._path = None, None


def segments(folder: Path, *, include_open: bool = True) -> list[Path]:
    """Sealed (and, by default, open) segment files in write order."""
    found = list(folder.glob(f"*{SEALED_SUFFIX}"))
    if include_open:
        found += list(folder.glob(f"*{OPEN_SUFFIX}"))
    return sorted(found, key=lambda path: path.name)


def read_events(folder: Path, *, include_open: bool = True) -> Iterator[dict]:
    """Every complete event line in the folder (a torn last line of an open segment is skipped)."""
    for path in segments(folder, include_open=include_open):
        with path.open("rb") as handle:
            for line in handle:
                if line.endswith(b"\n"):
                    yield json.loads(line)
