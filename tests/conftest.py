"""Shared fixtures: real dbt builds on tiny warehouses in temp folders.

One demo warehouse is built once per test session (dbt in-process) and shared; tests that
need their own data build their own, with the embedding cache shared so the model encodes
each text once per session.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Small but with enough structure for a ranker to learn from (see test_training_end_to_end).
DEMO_SIZE = {"users": 600, "items": 400, "days": 240, "seed": 7}


def python_model(path: str) -> ModuleType:
    """A dbt Python model's module (path under dbt_project/models), to call its functions and
    model() directly."""
    file = REPO / "dbt_project" / "models" / path
    spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of a block (dbt reads them per run)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def release_dbt_connection() -> None:
    """dbt-duckdb keeps its DuckDB connection open in-process after a run; close it so the
    test (and the next build of another warehouse) can open the file."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None


@dataclass
class Warehouse:
    """A warehouse folder (raw files, DuckDB file, indexes) that dbt builds into."""

    root: Path
    cache: Path

    @property
    def db(self) -> Path:
        return self.root / "recsql.duckdb"

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @contextmanager
    def env(self) -> Iterator[None]:
        with environment(RECSQL_WAREHOUSE=str(self.root), RECSQL_CACHE=str(self.cache)):
            os.environ.pop("RECSQL_DB", None)
            yield

    def dbt(self, *args: str, vars: Mapping[str, Any] | None = None) -> Any:
        """Run a dbt command in-process against this warehouse; fail the test with dbt's log.
        Returns dbt's result (``.result`` holds what the command made)."""
        from dbt.cli.main import dbtRunner

        command = [
            *args,
            "--project-dir", str(REPO / "dbt_project"),
            "--profiles-dir", str(REPO),
            "--target-path", str(self.root / "target"),
            "--log-path", str(self.root / "logs"),
        ]  # fmt: skip
        if vars:
            command += ["--vars", json.dumps(dict(vars))]
        with self.env():
            try:
                result = dbtRunner().invoke(command)
            finally:
                release_dbt_connection()
        if not result.success:
            failures = []
            for node in getattr(result.result, "results", None) or []:
                if str(node.status) not in ("success", "pass"):
                    failures.append(f"{node.node.name}: {node.status} {node.message}")
            detail = "\n".join(failures) or repr(result.exception)
            raise AssertionError(f"dbt {' '.join(args)} failed:\n{detail}")
        return result

    def build(self, vars: Mapping[str, Any] | None = None, select: str | None = None) -> None:
        # cautious: a partial build runs only the tests whose every parent it built
        args = ["build"] + (
            ["--select", select, "--indirect-selection", "cautious"] if select else []
        )
        self.dbt(*args, vars=vars)

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def columns(self, table: str) -> list[str]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return [row[0] for row in con.execute(f'describe "{table}"').fetchall()]


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embedding-cache")


@pytest.fixture
def new_warehouse(tmp_path: Path, embedding_cache: Path) -> Warehouse:
    """An empty warehouse folder for a test that writes its own raw files."""
    (tmp_path / "raw").mkdir()
    return Warehouse(tmp_path, embedding_cache)


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory, embedding_cache: Path) -> Warehouse:
    """The demo shop, generated small and built once for the whole session. Read-only."""
    from recsql.demo_data import generate_demo_data

    warehouse = Warehouse(tmp_path_factory.mktemp("demo-warehouse"), embedding_cache)
    generate_demo_data(warehouse.raw, **DEMO_SIZE)
    warehouse.build()
    return warehouse


def copy_warehouse(source: Warehouse, target: Path) -> Warehouse:
    """A private copy of a built warehouse (DuckDB file, indexes, models) to write into."""
    import shutil

    shutil.copytree(
        source.root,
        target,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("raw", "target", "logs"),
    )
    return Warehouse(target, source.cache)


@pytest.fixture(scope="session")
def trained_warehouse(
    demo_warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory
) -> Warehouse:
    """The demo warehouse with one model trained (seed 42). Read-only: copy it to write."""
    from recsql.training import train_ranker

    warehouse = copy_warehouse(demo_warehouse, tmp_path_factory.mktemp("trained-warehouse"))
    with warehouse.env():
        train_ranker(warehouse.db, rounds=200, seed=42, show_progress=False)
    return warehouse
