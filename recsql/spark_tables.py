"""The tables a Spark build wrote, as views in a DuckDB file, so `recsql train`, `score` and
`report` read them as they read a DuckDB build.

dbt-spark in session mode (profiles.yml target ``spark``) writes each table as a Parquet folder,
``$RECSQL_WAREHOUSE/spark/<schema>/<table>/`` (macro ``spark__location_clause``). One view per
folder reads it in place; the tables recsql writes itself (``model_registry``,
``recommendations``, ...) go into the DuckDB file as usual. Spark writes its timestamps as
instants (UTC); the views turn them back into the naive UTC timestamps of a DuckDB build.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from recsql import paths, warehouse

SCHEMA = "recsql"  # profiles.yml, target spark


def default_spark_dir() -> Path:
    """Where the spark target writes: $RECSQL_WAREHOUSE/spark/recsql."""
    return paths.warehouse_dir() / "spark" / SCHEMA


def spark_table_folders(root: Path) -> dict[str, Path]:
    """Table name -> its Parquet folder, for every folder under ``root`` holding Parquet files."""
    if not root.is_dir():
        raise FileNotFoundError(
            f"{root} does not exist: build with `dbt build --project-dir dbt_project "
            "--profiles-dir . --target spark` first"
        )
    return {
        folder.name: folder
        for folder in sorted(root.iterdir())
        if folder.is_dir() and any(folder.glob("*.parquet"))
    }


def parquet_select(folder: Path, con: duckdb.DuckDBPyConnection) -> str:
    """A select over one Spark table's Parquet files, instants as naive UTC timestamps."""
    source = f"read_parquet({warehouse.quote_literal(folder / '*.parquet')})"
    described = con.execute(f"describe select * from {source}").fetchall()
    columns = [
        f"timezone('UTC', {quote_identifier(name)}) as {quote_identifier(name)}"
        if kind == "TIMESTAMP WITH TIME ZONE"
        else quote_identifier(name)
        for name, kind, *_ in described
    ]
    return f"select {', '.join(columns)} from {source}"


def attach_spark_tables(db: Path, root: Path) -> list[str]:
    """Create (or replace) one view per Spark table in ``db``; returns the view names.

    A name that is already a table in ``db`` (a DuckDB build of the same project) is refused:
    use a DuckDB file of its own for the Spark tables.
    """
    folders = spark_table_folders(root)
    if not folders:
        raise FileNotFoundError(f"{root} holds no Parquet table folders")
    paths.ensure_folder_for(db)
    con = warehouse.connect(db)
    try:
        tables = {
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables"
                " where table_type = 'BASE TABLE' and table_name in (select unnest(?))",
                [list(folders)],
            ).fetchall()
        }
        if tables:
            raise ValueError(
                f"{db} already has tables named like Spark's ({', '.join(sorted(tables))}): "
                "give the Spark tables a DuckDB file of their own (--db)"
            )
        for name, folder in folders.items():
            con.execute(
                f"create or replace view {quote_identifier(name)} as {parquet_select(folder, con)}"
            )
    finally:
        con.close()
    return list(folders)


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
