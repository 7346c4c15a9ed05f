"""The tables recsql writes recommendations into: its own, and only those.

``recsql score --table`` replaces a table, so it may name only one recsql made for
recommendations: the built-in ``recommendations``, one recorded in ``recsql_outputs`` by an
earlier score, or a name not yet taken in an existing schema (which the score then creates and
records). Never ``model_registry`` and the other tables recsql keeps, a dbt model or anything
else already in the file. ``claim`` decides this before any work is done.

New rows are staged in a temporary table, which lives only on the writing connection: readers
never see it and a killed run leaves nothing behind. The swap (replace the table, append the
run to ``<table>_history``, record the table) commits at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from recsql import profile, warehouse
from recsql.errors import RecsqlError

OUTPUTS_TABLE = "recsql_outputs"
BUILT_IN = "recommendations"
# tables recsql keeps for itself; refused as outputs in every schema
RESERVED = frozenset({"model_registry", "model_metrics", "feature_importance", OUTPUTS_TABLE})


class NotAnOutputTable(RecsqlError, ValueError):
    """``--table`` names something recsql did not make for recommendations."""


@dataclass(frozen=True)
class OutputTable:
    schema: str
    name: str

    def _quoted(self, name: str) -> str:
        return f"{warehouse.quote(self.schema)}.{warehouse.quote(name)}"

    @property
    def target(self) -> str:
        return self._quoted(self.name)

    @property
    def history(self) -> str:
        return self._quoted(f"{self.name}_history")

    @property
    def legacy_staging(self) -> str:
        """Where scores before temporary staging left their rows when killed."""
        return self._quoted(f"{self.name}__staging")

    def __str__(self) -> str:
        return self.name if self.schema == "main" else f"{self.schema}.{self.name}"


def recorded_outputs(con: duckdb.DuckDBPyConnection) -> list[OutputTable]:
    """The built-in table and every table an earlier score recorded, in name order."""
    found = {("main", BUILT_IN)}
    if warehouse.table_exists(con, OUTPUTS_TABLE):
        found |= set(
            con.execute(f"select table_schema, table_name from {OUTPUTS_TABLE}").fetchall()
        )
    return [OutputTable(schema, name) for schema, name in sorted(found)]


def claim(con: duckdb.DuckDBPyConnection, table: str) -> OutputTable:
    """The output ``table`` names, or ``NotAnOutputTable`` saying what it may name instead."""
    warehouse.quote(table)  # UnsafeName for anything but a plain [schema.]name
    parsed = sqlglot.parse_one(table, read="duckdb", into=exp.Table)
    name, schema = parsed.name, parsed.args.get("db")
    schema = schema.name if schema is not None else "main"
    outputs = recorded_outputs(con)
    owned = {(o.schema.lower(), o.name.lower()): o for o in outputs}
    if (schema.lower(), name.lower()) in owned:
        return owned[(schema.lower(), name.lower())]

    def refuse(why: str) -> NotAnOutputTable:
        schemas = ", ".join(_schemas(con))
        return NotAnOutputTable(
            f"--table {table}: {why}. It may name a recommendations table recsql made"
            f" ({', '.join(str(o) for o in outputs)}) or a new table in an existing schema"
            f" ({schemas})"
        )

    if name.lower() == OUTPUTS_TABLE:
        raise refuse("recsql records its output tables there")
    if name.lower() in RESERVED:
        raise refuse("recsql keeps its models there")
    if name.lower() in _dbt_models():
        raise refuse("that is a dbt model")
    if schema.lower() not in {s.lower() for s in _schemas(con)}:
        raise refuse(f"schema {schema} does not exist")
    for taken in (name, f"{name}_history", f"{name}__staging"):
        if _exists(con, schema, taken):
            raise refuse(f"{schema}.{taken} already exists and recsql did not make it")
    return OutputTable(schema, name)


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    output: OutputTable,
    rows: pa.Table,
    *,
    before_swap: Callable[[], None] = lambda: None,
) -> None:
    """Make ``rows`` the whole content of ``output`` and append them to its history, at once.

    ``before_swap`` runs inside the swap transaction (tests inject failures and kills there).
    """
    con.execute(f"drop table if exists {output.legacy_staging}")
    staging = f"recsql_staging_{os.getpid()}"
    con.register("recsql_new_rows", rows)
    try:
        con.execute(
            f"create or replace temporary table {staging} as"
            " select * from recsql_new_rows order by user_id, rank"
        )
    finally:
        con.unregister("recsql_new_rows")
    con.execute("begin transaction")
    try:
        before_swap()
        con.execute(f"drop table if exists {output.target}")
        con.execute(f"create table {output.target} as select * from {staging}")
        con.execute(
            f"create table if not exists {output.history} as select * from {output.target} limit 0"
        )
        _add_new_columns(con, output.history, output.target)
        con.execute(f"insert into {output.history} by name select * from {output.target}")
        _record(con, output)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.execute(f"drop table if exists temp.main.{staging}")


def _add_new_columns(con: duckdb.DuckDBPyConnection, history: str, target: str) -> None:
    """Columns a newer recsql writes (``method``) join a history table made by an older one."""
    known = {row[0] for row in con.execute(f"describe {history}").fetchall()}
    for name, data_type, *_ in con.execute(f"describe {target}").fetchall():
        if name not in known:
            quoted = name.replace('"', '""')
            con.execute(f'alter table {history} add column "{quoted}" {data_type}')


def _record(con: duckdb.DuckDBPyConnection, output: OutputTable) -> None:
    con.execute(
        f"create table if not exists {OUTPUTS_TABLE} (table_schema varchar, table_name varchar,"
        " kind varchar, created_at timestamp default current_timestamp,"
        " primary key (table_schema, table_name))"
    )
    con.execute(
        f"insert into {OUTPUTS_TABLE} (table_schema, table_name, kind)"
        " values (?, ?, 'recommendations') on conflict do nothing",
        [output.schema, output.name],
    )


def _schemas(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select schema_name from information_schema.schemata"
        " where catalog_name = current_database() order by schema_name"
    ).fetchall()
    return [row[0] for row in rows if row[0] not in ("information_schema", "pg_catalog")]


def _exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables where table_catalog = current_database()"
        " and lower(table_schema) = lower(?) and lower(table_name) = lower(?)",
        [schema, name],
    ).fetchall()
    return rows[0][0] > 0


def _dbt_models() -> set[str]:
    """Names of the dbt project's models (built or not yet built), lower case."""
    project = Path(os.environ.get("DBT_PROJECT_DIR", profile.PROJECT_DIR))
    models = project / "models"
    if not models.is_dir():
        return set()
    return {
        path.stem.lower() for path in models.rglob("*") if path.suffix in (".sql", ".py", ".csv")
    }
