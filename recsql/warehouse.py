"""Reading and writing recsql's own tables in the DuckDB file.

Names that come from users (an output table, say) go through ``quote``; values are bound as
parameters. Nothing user-given is pasted into SQL text unquoted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from recsql import errors, profile, progress

DEFAULT_LOCK_WAIT = 30.0
# How long ``connect`` waits for another process's lock; the CLI's --wait sets it per command.
LOCK_WAIT: ContextVar[float] = ContextVar("recsql_lock_wait", default=DEFAULT_LOCK_WAIT)


def connect(
    db: Path, *, read_only: bool = False, wait: float | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection with the same memory bound as the dbt profile, so sorting a large split
    spills to disk instead of taking most of the machine.

    DuckDB allows one writer process (or many readers): while another process holds the file,
    this retries for ``wait`` seconds (default ``LOCK_WAIT``), then raises ``FileInUse`` naming
    that process. A file that is not a DuckDB database raises ``NotADatabase``.
    """
    limit = memory_limit()
    wait = LOCK_WAIT.get() if wait is None else wait
    started = time.monotonic()
    announced = False
    while True:
        try:
            return duckdb.connect(str(db), read_only=read_only, config={"memory_limit": limit})
        except duckdb.Error as error:
            if errors.is_lock_conflict(error):
                waited = time.monotonic() - started
                if waited >= wait:
                    raise errors.file_in_use(db, error, round(waited, 1)) from error
                if not announced:
                    progress.note(
                        f"{db} is in use by {errors.lock_holder(error)}; waiting up to {wait:g} s"
                    )
                    announced = True
                time.sleep(min(0.25, max(0.0, wait - waited)))
                continue
            if "not a valid DuckDB database file" in str(error):
                raise errors.NotADatabase(
                    f"{db} is not a DuckDB database file: pass --db the file `dbt build` makes"
                ) from error
            raise


SCAN_MEMORY = "256MB"  # a streaming scan pins a few blocks per thread, never more


@contextlib.contextmanager
def streaming_scan(
    con: duckdb.DuckDBPyConnection, budget: str = SCAN_MEMORY
) -> Iterator[duckdb.DuckDBPyConnection]:
    """For reads that stream a large table once, unsorted: ``budget`` caps DuckDB's memory
    while they run, then the configured bound comes back.

    Without it DuckDB keeps every block it read cached, up to ``memory_limit``, beside the rows
    the caller converts from it: reading the train split's features at 2M events took
    `recsql train` from 3.5 to 7.3 GiB, of which ~3.5 GiB were cached blocks read once. A scan
    with a filter and casts needs no more than a few blocks per thread (same speed on 5M rows
    at 256MB as at 4GB). Lowering the bound also hands back what earlier queries left cached
    (the sort of the keys before it). Not for joins or aggregates of the large table itself:
    they need the full bound (a join of a small table to it streams it, and fits); a sort of a
    few narrow columns read whole takes ``memory_bound`` alone (``ranking_data.KEYS_MEMORY``).

    Yields a cursor to scan on: the bound is the database's, and ``con`` stays free to set it
    back even if the scan stops half-read (a connection with an open result takes no query).
    """
    with memory_bound(con, budget):
        cursor = con.cursor()
        try:
            yield cursor
        finally:
            cursor.close()


@contextlib.contextmanager
def memory_bound(con: duckdb.DuckDBPyConnection, budget: str) -> Iterator[None]:
    """DuckDB's memory bound set to ``budget`` while the block runs, then the configured one
    (``memory_limit``) back: for steps whose sorts spill at about the speed they fit, so the
    memory the process holds beside them stays bounded."""
    con.execute(f"set memory_limit = '{budget}'")
    try:
        yield
    finally:
        con.execute(f"set memory_limit = '{memory_limit()}'")


def wait_until_available(db: Path, *, read_only: bool = True, wait: float | None = None) -> None:
    """Open and close ``db`` as ``connect`` would: for commands whose library code opens the
    file itself, so they too wait for a lock and fail with one clear message."""
    connect(db, read_only=read_only, wait=wait).close()


def db_file(con: duckdb.DuckDBPyConnection) -> Path:
    """The file behind a connection (absolute, as DuckDB resolved it when it opened it)."""
    rows = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchall()
    return Path(rows[0][0]) if rows and rows[0][0] else Path(":memory:")


def memory_limit() -> str:
    """The profile's ``settings.memory_limit``, else ``$RECSQL_MEMORY_LIMIT``, else 4GB.

    With ``--db`` given, a profile that cannot be read does not stop the run: its bound
    is then the environment's. A value DuckDB cannot read is refused here, naming where it
    came from, rather than as a parser error from deep inside a connect.
    """
    try:
        configured = profile.memory_limit()
    except profile.ProfileError:
        configured = None
    value = configured or os.environ.get("RECSQL_MEMORY_LIMIT", "4GB")
    _check_memory_limit(value)
    return value


@functools.lru_cache(maxsize=8)
def _check_memory_limit(value: str) -> None:
    try:
        duckdb.connect(":memory:", config={"memory_limit": value}).close()
    except duckdb.Error as error:
        source = (
            "RECSQL_MEMORY_LIMIT"
            if os.environ.get("RECSQL_MEMORY_LIMIT") == value
            else "the dbt profile's settings.memory_limit"
        )
        raise errors.BadSetting(
            f"memory limit {value!r} (from {source}) is not a size DuckDB understands: use e.g. 4GB, 512MB or 50%"
        ) from error


class UnsafeName(ValueError):
    """A name that is not a plain (optionally schema-qualified) SQL identifier."""


def quote_literal(text: str | Path) -> str:
    """A string (a file path, say) as a SQL literal: a quote in it cannot end the string."""
    return "'" + str(text).replace("'", "''") + "'"


def quote(name: str) -> str:
    """Parse a table or column name with sqlglot and return it quoted for DuckDB.

    Accepts ``name`` or ``schema.name`` (parts may be double-quoted); refuses anything else
    (``x; drop table y``, aliases, comments, calls) with a message naming what was given.
    """
    refusal = UnsafeName(
        f"{name!r} is not a plain table or column name (use letters, digits, _ and one optional schema.)"
    )
    try:
        parsed = sqlglot.parse_one(name, read="duckdb", into=exp.Table)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as error:
        raise refusal from error
    parts = [
        part for part in (parsed.args.get("catalog"), parsed.args.get("db"), parsed.this) if part
    ]
    plain = (
        isinstance(parsed, exp.Table)
        and 1 <= len(parts) <= 2
        and all(isinstance(part, exp.Identifier) and part.name for part in parts)
        and not parsed.comments
        and parsed.sql(dialect="duckdb") == ".".join(part.sql(dialect="duckdb") for part in parts)
    )
    if not plain:
        raise refusal
    return ".".join(
        exp.to_identifier(part.name, quoted=True).sql(dialect="duckdb") for part in parts
    )


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables where table_name = ?", [name]
    ).fetchall()
    return rows[0][0] > 0


def require_tables(con: duckdb.DuckDBPyConnection, db: Path, *names: str) -> None:
    missing = [name for name in names if not table_exists(con, name)]
    if missing:
        raise errors.NotBuilt(
            f"{db} has no table {', '.join(missing)}: run "
            "`dbt build --project-dir dbt_project --profiles-dir .` first"
        )


def ranker_features(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The feature list the dbt layer recorded (model ranker_features), in order.

    Checked first: without the table DuckDB would look for a Python variable of that name
    (this very function) and fail with a message about replacement scans.
    """
    require_tables(con, db_file(con), "ranker_features", "fct_candidates")
    return [
        row[0]
        for row in con.execute(
            "select feature_name from ranker_features order by position"
        ).fetchall()
    ]


def categorical_features(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The features ranker_features marks categorical (mapped text attributes)."""
    columns = {row[0] for row in con.execute("describe ranker_features").fetchall()}
    if "kind" not in columns:  # built before attributes existed: every feature is numeric
        return []
    return [
        row[0]
        for row in con.execute(
            "select feature_name from ranker_features where kind = 'categorical' order by position"
        ).fetchall()
    ]


def category_values(
    con: duckdb.DuckDBPyConnection, features: Sequence[str]
) -> dict[str, list[str]]:
    """Each categorical feature's values in the labelled splits, sorted: value i is code i.

    Kept with the model, so a value keeps its code when the serve split is scored later, and a
    value the model never saw scores as missing.
    """
    return {
        name: [
            row[0]
            for row in con.execute(
                f"select distinct {quote(name)} from fct_candidates"
                f" where split <> 'serve' and {quote(name)} is not null order by 1"
            ).fetchall()
        ]
        for name in features
    }


def snapshot_cutoffs(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    rows = con.execute(
        "select snapshot, split, cast(cutoff_ts as varchar) from int_snapshots order by cutoff_ts"
    ).fetchall()
    return {snapshot: (split, cutoff) for snapshot, split, cutoff in rows}


@dataclass(frozen=True)
class SeenPolicy:
    """The build's decision on items users already had (model int_seen_policy)."""

    exclude: bool
    rebuy_share: float | None  # of the train snapshots' label items
    decided_by: str  # 'auto' or 'var exclude_seen'


def seen_policy(con: duckdb.DuckDBPyConnection) -> SeenPolicy | None:
    """The build's seen-items policy; None for a warehouse built before it existed."""
    if not table_exists(con, "int_seen_policy"):
        return None
    exclude, share, decided_by = con.execute(
        "select exclude_seen, rebuy_share, decided_by from int_seen_policy"
    ).fetchall()[0]
    return SeenPolicy(bool(exclude), share, decided_by)


def warehouse_root(con: duckdb.DuckDBPyConnection) -> Path:
    """The warehouse a connection's file belongs to: the folder holding the DuckDB file.

    Model locations in ``model_registry`` are relative to it, so a registry read from any
    working directory, or from a copied or moved warehouse, finds its own models.
    """
    return db_file(con).resolve().parent


def registry_location(con: duckdb.DuckDBPyConnection, model_dir: Path) -> str:
    """How ``model_registry.path`` records a model folder: relative to the warehouse root
    (``models/<version>``) when inside it, else absolute."""
    folder, root = Path(model_dir).resolve(), warehouse_root(con)
    try:
        return folder.relative_to(root).as_posix()
    except ValueError:
        return str(folder)


def resolve_location(con: duckdb.DuckDBPyConnection, stored: str, version: str) -> Path:
    """The folder a ``model_registry.path`` names, against this connection's warehouse.

    Registries written before paths were relative hold the folder as the training run's
    working directory saw it (``warehouse/models/<version>``): those resolve to this
    warehouse's ``models/<version>``, never to a folder elsewhere that happens to exist.
    """
    path = Path(stored)
    if path.is_absolute():
        return path
    root = warehouse_root(con)
    if (root / path).exists() or path.parts[:1] == ("models",):
        return root / path
    return root / "models" / version


def register_model(
    con, metadata: dict[str, Any], model_dir: Path, booster, metrics: list[tuple]
) -> None:
    """Append the model to model_registry and its metrics and feature importance, atomically.

    The registry keeps the model folder relative to the warehouse and the sha256 of
    model.txt (``metadata["model_sha256"]``, set by ``model_files.save_model``), which scoring
    checks before LightGBM reads the file.
    """
    gains = booster.feature_importance(importance_type="gain")
    splits = booster.feature_importance(importance_type="split")
    version = metadata["model_version"]
    con.execute("begin transaction")
    try:
        con.execute(
            """create table if not exists model_registry (
                model_version varchar primary key, created_at timestamp, path varchar,
                feature_hash varchar, n_features integer, features varchar, train_rows bigint,
                train_users bigint, positives bigint, best_iteration integer, seed integer,
                test_cutoff timestamp, params varchar, metadata varchar, model_sha256 varchar)"""
        )
        con.execute("alter table model_registry add column if not exists model_sha256 varchar")
        con.execute(
            "create table if not exists model_metrics (model_version varchar, snapshot varchar,"
            " method varchar, metric varchar, k integer, value double,"
            " ci95_low double, ci95_high double)"
        )
        for column in ("ci95_low", "ci95_high"):  # warehouses from before the intervals
            con.execute(f"alter table model_metrics add column if not exists {column} double")
        con.execute(
            "create table if not exists feature_importance (model_version varchar,"
            " feature_name varchar, family varchar, gain double, split bigint)"
        )
        con.execute(
            """insert into model_registry (model_version, created_at, path, feature_hash,
                n_features, features, train_rows, train_users, positives, best_iteration, seed,
                test_cutoff, params, metadata, model_sha256)
            values (?, cast(? as timestamptz), ?, ?, ?, ?, ?, ?, ?, ?, ?, cast(? as timestamp), ?, ?, ?)""",
            [
                version, metadata["created_at"], registry_location(con, model_dir),
                metadata["feature_hash"], len(metadata["features"]),
                json.dumps(metadata["features"]), metadata["train_rows"],
                metadata["train_users"], metadata["positives"], metadata["best_iteration"],
                metadata["seed"], metadata["test_cutoff"], json.dumps(metadata["params"]),
                json.dumps(metadata, default=str), metadata.get("model_sha256"),
            ],
        )  # fmt: skip
        con.executemany(
            "insert into model_metrics (model_version, snapshot, method, metric, k, value,"
            " ci95_low, ci95_high) values (?, ?, ?, ?, ?, ?, ?, ?)",
            [list(row) for row in metrics],
        )
        families = dict(con.execute("select feature_name, family from ranker_features").fetchall())
        con.executemany(
            "insert into feature_importance values (?, ?, ?, ?, ?)",
            [
                [version, name, families.get(name), float(gain), int(split)]
                for name, gain, split in zip(metadata["features"], gains, splits, strict=True)
            ],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


@dataclass(frozen=True)
class RegisteredModel:
    version: str
    folder: Path  # resolved against the connection's warehouse
    sha256: str | None  # of model.txt; None for models registered before checksums


def registered_model(con: duckdb.DuckDBPyConnection, version: str | None = None) -> RegisteredModel:
    """The requested or most recent registered model, its folder in this warehouse."""
    if not table_exists(con, "model_registry"):
        raise errors.NotBuilt("no model is registered yet: run `recsql train` first")
    has_sha = bool(
        con.execute(
            "select count(*) from information_schema.columns"
            " where table_name = 'model_registry' and column_name = 'model_sha256'"
        ).fetchall()[0][0]
    )
    columns = "model_version, path, " + ("model_sha256" if has_sha else "null")
    if version:
        rows = con.execute(
            f"select {columns} from model_registry where model_version = ?", [version]
        ).fetchall()
        if not rows:
            known = [
                r[0]
                for r in con.execute(
                    "select model_version from model_registry order by created_at desc limit 5"
                ).fetchall()
            ]
            raise errors.NotBuilt(
                f"no model {version!r} in model_registry; recent ones: {', '.join(known)}"
            )
    else:
        rows = con.execute(
            f"select {columns} from model_registry order by created_at desc, model_version desc limit 1"
        ).fetchall()
        if not rows:
            raise errors.NotBuilt("no model is registered yet: run `recsql train` first")
    found, stored, sha256 = rows[0]
    return RegisteredModel(found, resolve_location(con, stored, found), sha256)
