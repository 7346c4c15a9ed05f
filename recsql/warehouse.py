"""Reading and writing recsql's own tables in the DuckDB file.

Names that come from users (an output table, say) go through ``quote``; values are bound as
parameters. Nothing user-given is pasted into SQL text unquoted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from recsql import profile


def connect(db: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection with the same memory bound as the dbt profile, so sorting a large split
    spills to disk instead of taking most of the machine."""
    return duckdb.connect(str(db), read_only=read_only, config={"memory_limit": memory_limit()})


def memory_limit() -> str:
    """The profile's ``settings.memory_limit``, else ``$RECSQL_MEMORY_LIMIT``, else 4GB.

    With ``--db`` given, a profile that cannot be read does not stop the run: its bound
    is then the environment's.
    """
    try:
        configured = profile.memory_limit()
    except profile.ProfileError:
        configured = None
    return configured or os.environ.get("RECSQL_MEMORY_LIMIT", "4GB")


class UnsafeName(ValueError):
    """A name that is not a plain (optionally schema-qualified) SQL identifier."""


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
        raise LookupError(
            f"{db} has no table {', '.join(missing)}: run "
            "`dbt build --project-dir dbt_project --profiles-dir .` first"
        )


def ranker_features(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The feature list the dbt layer recorded (model ranker_features), in order."""
    return [
        row[0]
        for row in con.execute(
            "select feature_name from ranker_features order by position"
        ).fetchall()
    ]


def snapshot_cutoffs(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    rows = con.execute(
        "select snapshot, split, cast(cutoff_ts as varchar) from int_snapshots order by cutoff_ts"
    ).fetchall()
    return {snapshot: (split, cutoff) for snapshot, split, cutoff in rows}


def register_model(
    con, metadata: dict[str, Any], model_dir: Path, booster, metrics: list[tuple]
) -> None:
    """Append the model to model_registry and its metrics and feature importance, atomically."""
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
                test_cutoff timestamp, params varchar, metadata varchar)"""
        )
        con.execute(
            "create table if not exists model_metrics (model_version varchar, snapshot varchar,"
            " method varchar, metric varchar, k integer, value double)"
        )
        con.execute(
            "create table if not exists feature_importance (model_version varchar,"
            " feature_name varchar, family varchar, gain double, split bigint)"
        )
        con.execute(
            "insert into model_registry values (?, cast(? as timestamptz), ?, ?, ?, ?, ?, ?, ?, ?, ?, cast(? as timestamp), ?, ?)",
            [
                version, metadata["created_at"], str(model_dir), metadata["feature_hash"],
                len(metadata["features"]), json.dumps(metadata["features"]), metadata["train_rows"],
                metadata["train_users"], metadata["positives"], metadata["best_iteration"],
                metadata["seed"], metadata["test_cutoff"], json.dumps(metadata["params"]),
                json.dumps(metadata, default=str),
            ],
        )  # fmt: skip
        con.executemany(
            "insert into model_metrics values (?, ?, ?, ?, ?, ?)", [list(row) for row in metrics]
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


def latest_model(con: duckdb.DuckDBPyConnection, version: str | None = None) -> tuple[str, Path]:
    """(version, folder) of the requested or most recent registered model."""
    if not table_exists(con, "model_registry"):
        raise LookupError("no model is registered yet: run `recsql train` first")
    if version:
        rows = con.execute(
            "select model_version, path from model_registry where model_version = ?", [version]
        ).fetchall()
        if not rows:
            known = [
                r[0]
                for r in con.execute(
                    "select model_version from model_registry order by created_at desc limit 5"
                ).fetchall()
            ]
            raise LookupError(
                f"no model {version!r} in model_registry; recent ones: {', '.join(known)}"
            )
    else:
        rows = con.execute(
            "select model_version, path from model_registry order by created_at desc, model_version desc limit 1"
        ).fetchall()
    return rows[0][0], Path(rows[0][1])
