"""Parquet copies of the tables people read, for BI tools that cannot open a DuckDB file a
writer holds. Each file is written beside its target and renamed over it: a reader sees the
old file or the new one."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb

from recsql import warehouse

EXPORTED_TABLES = (
    "recommendations",
    "similar_items",
    "model_metrics",
    "model_registry",
    "feature_importance",
    "candidate_recall",
)


def export_tables(
    db: Path, out_dir: Path, tables: tuple[str, ...] = EXPORTED_TABLES
) -> dict[str, Path]:
    """Write each existing table to ``out_dir/<table>.parquet``; returns what was written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for table in tables:
            quoted = warehouse.quote(table)
            if not warehouse.table_exists(con, table.split(".")[-1]):
                continue
            target = out_dir / f"{table}.parquet"
            temporary = out_dir / f".{table}.{uuid.uuid4().hex}.parquet"
            path = str(temporary).replace("'", "''")
            con.execute(f"copy (select * from {quoted}) to '{path}' (format parquet)")
            os.replace(temporary, target)
            written[table] = target
    return written
