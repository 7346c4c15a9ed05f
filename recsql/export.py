"""Parquet copies of the tables people read, for BI tools that cannot open a DuckDB file a
writer holds. Each file is written into a hidden folder beside its target (``.recsql-tmp/``,
with a ``.tmp`` suffix), then renamed over it: a reader sees the old file or the new one, and a
reader globbing ``exports/*.parquet`` never sees a half-written file, even one a killed export
left behind. The next export removes such leftovers."""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

from recsql import leftovers, warehouse

EXPORTED_TABLES = (
    "recommendations",
    "similar_items",
    "model_metrics",
    "model_registry",
    "feature_importance",
    "candidate_recall",
)
TEMPORARY_DIR = ".recsql-tmp"
TEMPORARY_PREFIX = "export-"
# what exports before the hidden folder left when killed: .<table>.<uuid hex>.parquet
LEGACY_TEMPORARY = re.compile(r"\.[A-Za-z0-9_.]+\.[0-9a-f]{32}\.parquet")


def export_tables(
    db: Path, out_dir: Path, tables: tuple[str, ...] = EXPORTED_TABLES
) -> dict[str, Path]:
    """Write each existing table to ``out_dir/<table>.parquet``; returns what was written."""
    temporary_dir = out_dir / TEMPORARY_DIR
    temporary_dir.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out_dir)
    written = {}
    with warehouse.connect(db, read_only=True) as con:
        for table in tables:
            warehouse.quote(table)
            if not warehouse.table_exists(con, table.split(".")[-1]):
                continue
            target = out_dir / f"{table}.parquet"
            temporary = temporary_dir / leftovers.temporary_name(
                TEMPORARY_PREFIX, f".{table}.parquet.tmp"
            )
            try:
                _copy_table(con, table, temporary)
                os.replace(temporary, target)
            finally:
                temporary.unlink(missing_ok=True)
            written[table] = target
    return written


def remove_leftovers(out_dir: Path) -> list[Path]:
    """Temporary files of exports whose process is gone, and old-style hidden ones."""
    return leftovers.remove_stale(
        out_dir / TEMPORARY_DIR, TEMPORARY_PREFIX
    ) + leftovers.remove_stale(out_dir, TEMPORARY_PREFIX, legacy=LEGACY_TEMPORARY)


def _copy_table(con: duckdb.DuckDBPyConnection, table: str, path: Path) -> None:
    con.execute(
        f"copy (select * from {warehouse.quote(table)})"
        f" to {warehouse.quote_literal(path)} (format parquet)"
    ).fetchall()
