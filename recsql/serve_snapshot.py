"""What ``recsql serve`` answers from: an in-memory copy of one published run, swapped whole.

DuckDB lets one process write the file and a writer blocks even read-only openers, so the
service never reads the warehouse per request. A ``Publisher`` thread watches the DuckDB file
(``os.stat``, no lock taken) and opens it read-only only after it changed and then stayed quiet
for ``settle_seconds``; the connection lives for the copy alone (a fraction of a second on the
demo). A held lock means a writer is busy: the service keeps the run it has and looks again on
the next poll. A new ``run_id`` in the recommendations table is copied with ``similar_items``
and the cold-start list (the serve snapshot's recent best sellers, ranked as the
``popular_recent`` generator ranks them) into a ``Snapshot``, which replaces the previous one
in a single assignment: every answer comes from exactly one run.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

import duckdb

from recsql import errors, warehouse

log = logging.getLogger("recsql.serve")

COLD_START_REASON = "popular now"
WRITER_GRACE_SECONDS = 30.0  # a write-ahead log this old is a killed writer's, not a busy one's


@dataclass(frozen=True)
class ServedList:
    """One ranked list: item ids by rank and their JSON, ready to be sliced to any k."""

    items: tuple[str, ...]
    reasons: tuple[str | None, ...]
    body: bytes  # the JSON objects of every entry, comma separated
    ends: tuple[int, ...]  # ends[i] = where entry i ends in body

    def json_items(self, k: int) -> bytes:
        """The first ``k`` entries as a JSON array."""
        if k <= 0 or not self.items:
            return b"[]"
        return b"[" + self.body[: self.ends[min(k, len(self.ends)) - 1]] + b"]"

    def position(self, item_id: str, k: int) -> int | None:
        """1-based position of ``item_id`` among the first ``k`` entries, or None."""
        try:
            index = self.items.index(item_id, 0, k)
        except ValueError:
            return None
        return index + 1


def served_list(entries: list[dict], item_key: str = "item_id") -> ServedList:
    """A ``ServedList`` from ranked entries (dicts as they will be answered)."""
    parts = [
        json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode() for entry in entries
    ]
    ends, offset = [], 0
    for index, part in enumerate(parts):
        offset += len(part) + (1 if index else 0)
        ends.append(offset)
    return ServedList(
        items=tuple(str(entry[item_key]) for entry in entries),
        reasons=tuple(entry.get("reason") for entry in entries),
        body=b",".join(parts),
        ends=tuple(ends),
    )


@dataclass(frozen=True)
class Snapshot:
    """One published run, copied out of the warehouse."""

    run_id: str
    model_version: str
    method: str | None
    generated_at: str
    table: str
    lists: dict[str, ServedList]
    cold_start: ServedList
    similar: dict[str, ServedList]
    max_k: int
    loaded_at: float = field(default_factory=time.time)
    load_seconds: float = 0.0

    @property
    def users(self) -> int:
        return len(self.lists)


class NoRunYet(errors.RecsqlError):
    """The warehouse has no recommendations to serve yet."""


def peek_run(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """The run id the output table holds now (a score replaces the whole table, one run)."""
    quoted = warehouse.quote(table)
    try:
        rows = con.execute(f"select run_id from {quoted} limit 1").fetchall()
    except duckdb.CatalogException:
        return None
    return rows[0][0] if rows else None


def load_snapshot(con: duckdb.DuckDBPyConnection, table: str = "recommendations") -> Snapshot:
    """Copy the run in ``table`` with similar items and the cold-start list into memory."""
    started = time.monotonic()
    quoted = warehouse.quote(table)
    if peek_run(con, table) is None:
        raise NoRunYet(f"{table} is empty or missing: run `recsql score` first")
    columns = {row[0] for row in con.execute(f"describe {quoted}").fetchall()}
    method = "method" if "method" in columns else "cast(null as varchar)"
    runs = con.execute(f"select count(distinct run_id) from {quoted}").fetchall()[0][0]
    run_id, model_version, served_method, generated_at = con.execute(
        f"select run_id, model_version, {method}, cast(generated_at as varchar) from {quoted} limit 1"
    ).fetchall()[0]
    if runs != 1:
        raise NoRunYet(f"{table} holds {runs} runs; a score writes one, run `recsql score` again")
    rows = con.execute(
        f"select user_id, rank, item_id, score, reason from {quoted} order by user_id, rank"
    ).fetchall()
    intern: dict[str, str] = {}
    lists: dict[str, ServedList] = {}
    max_k = 0
    for user_id, group in groupby(rows, key=lambda row: row[0]):
        entries = [
            {
                "rank": position,
                "item_id": intern.setdefault(str(item), str(item)),
                "score": None if score is None else round(float(score), 6),
                "reason": reason,
            }
            for position, (_, _, item, score, reason) in enumerate(group, start=1)
        ]
        max_k = max(max_k, len(entries))
        lists[str(user_id)] = served_list(entries)
    cold = _cold_start(con, max_k or 20)
    similar = _similar(con)
    return Snapshot(
        run_id=run_id,
        model_version=model_version,
        method=served_method,
        generated_at=generated_at,
        table=table,
        lists=lists,
        cold_start=cold,
        similar=similar,
        max_k=max(max_k, len(cold.items)),
        load_seconds=round(time.monotonic() - started, 3),
    )


def _cold_start(con: duckdb.DuckDBPyConnection, k: int) -> ServedList:
    """The serve snapshot's recent best sellers that may be served (in stock), in the
    popular_recent generator's order."""
    if not warehouse.table_exists(con, "int_item_popularity"):
        return served_list([])
    rows = con.execute(
        "select item_id, events_7d + events_30d / 30.0 from int_item_popularity as popular"
        " where snapshot = 'serve' and item_id in ("  # in stock (int_available_items)
        "  select item_id from int_available_items where snapshot = 'serve')"
        " order by events_7d desc, events_30d desc, item_id limit ?",
        [k],
    ).fetchall()
    return served_list(
        [
            {
                "rank": rank,
                "item_id": str(item),
                "score": round(float(score), 6),
                "reason": COLD_START_REASON,
            }
            for rank, (item, score) in enumerate(rows, start=1)
        ]
    )


def _similar(con: duckdb.DuckDBPyConnection) -> dict[str, ServedList]:
    if not warehouse.table_exists(con, "similar_items"):
        return {}
    rows = con.execute(
        "select item_id, neighbour_item_id, neighbour_title, neighbour_category, similarity"
        " from similar_items order by item_id, rank"
    ).fetchall()
    similar = {}
    for item_id, group in groupby(rows, key=lambda row: row[0]):
        similar[str(item_id)] = served_list(
            [
                {
                    "rank": rank,
                    "item_id": str(neighbour),
                    "title": title,
                    "category": category,
                    "similarity": round(float(similarity), 6),
                }
                for rank, (_, neighbour, title, category, similarity) in enumerate(group, start=1)
            ]
        )
    return similar


def file_signature(db: Path) -> tuple:
    """What changes when a writer commits: the file's and its write-ahead log's stat."""
    signature = []
    for path in (db, db.with_name(db.name + ".wal")):
        try:
            stat = path.stat()
        except FileNotFoundError:
            signature.append(None)
        else:
            signature.append((stat.st_mtime_ns, stat.st_size))
    return tuple(signature)


class Publisher:
    """Keeps ``current`` (and ``previous``, to check feedback on the run before) up to date."""

    def __init__(
        self,
        db: Path,
        *,
        table: str = "recommendations",
        poll_seconds: float = 1.0,
        settle_seconds: float = 0.5,
        on_change: Callable[[Snapshot], None] = lambda snapshot: None,
    ) -> None:
        warehouse.quote(table)  # refuse a bad name before the first poll
        self.db = Path(db)
        self.table = table
        self.poll_seconds = poll_seconds
        self.settle_seconds = settle_seconds
        self.on_change = on_change
        self.current: Snapshot | None = None
        self.previous: Snapshot | None = None
        self.last_error: str | None = None
        self.reloads = 0
        self._checked: tuple | None = None  # the signature last read (loaded or same run)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="recsql-publisher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception as error:  # keep serving the run we have; say why once per change
                message = errors.one_line(error)
                if message != self.last_error:
                    log.warning("reload failed", extra={"event": "reload_failed", "error": message})
                self.last_error = message
            self._stop.wait(self.poll_seconds)

    def check(self) -> bool:
        """Load a new run if the file changed, went quiet, is free and holds one. True if loaded."""
        signature = file_signature(self.db)
        if signature[0] is None:
            raise NoRunYet(f"{self.db} does not exist: build and score the warehouse first")
        if signature == self._checked:
            return False
        newest = max(stamp[0] for stamp in signature if stamp is not None) / 1e9
        quiet = time.time() - newest
        if quiet < self.settle_seconds:
            return False
        if signature[1] is not None and signature[1][1] > 0 and quiet < WRITER_GRACE_SECONDS:
            return False  # a writer has uncommitted-to-file work: wait for it to close
        try:
            con = warehouse.connect(self.db, read_only=True, wait=0)
        except errors.FileInUse:
            return False  # a writer holds it; the next poll looks again
        try:
            # looked at, whatever it holds: the next open waits for the file to change again,
            # so a warehouse without a run is not opened (and briefly locked) on every poll
            self._checked = signature
            run = peek_run(con, self.table)
            if self.current is not None and run == self.current.run_id:
                return False
            snapshot = load_snapshot(con, self.table)
        finally:
            con.close()
        self.previous, self.current = self.current, snapshot
        self.reloads += 1
        self.last_error = None
        self.on_change(snapshot)
        return True

    def find(self, run_id: str) -> Snapshot | None:
        """The loaded snapshot of ``run_id``: the current run or the one before it."""
        for snapshot in (self.current, self.previous):
            if snapshot is not None and snapshot.run_id == run_id:
                return snapshot
        return None
