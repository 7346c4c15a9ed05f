"""What the CLI promises under faults and hostile input (issue 16): it writes only tables it
owns, never hands a damaged file to LightGBM or hnswlib, finds its models from any folder, says
what went wrong in one line, and cleans up what a killed run left. Real files, real processes."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from recsql import export, scoring
from recsql.cli import cli
from tests.conftest import REPO, Warehouse, copy_warehouse


@pytest.fixture
def warehouse(trained_warehouse: Warehouse, tmp_path: Path) -> Warehouse:
    return copy_warehouse(trained_warehouse, tmp_path / "warehouse")


def run(warehouse: Warehouse, *args: str, **env: str):
    with warehouse.env():
        return CliRunner(env=env or None).invoke(cli, list(args), catch_exceptions=False)


def assert_one_line_error(result, *fragments: str, exit_code: int = 1) -> str:
    """The command failed with a single ``Error: ...`` line containing every fragment (exit 2
    for a refused option value, 1 for everything else)."""
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if not line.startswith("recsql: ")]
    (error,) = lines  # progress notes ("recsql: waiting ...") aside, one line
    assert error.startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    return error


def model_folder(warehouse: Warehouse) -> Path:
    (stored,) = warehouse.query("select path from model_registry")[0]
    return warehouse.root / stored


def table_names(warehouse: Warehouse) -> set[str]:
    rows = warehouse.query("select table_schema, table_name from information_schema.tables")
    return {name if schema == "main" else f"{schema}.{name}" for schema, name in rows}


def dead_pid() -> int:
    """The pid of a process that has exited (what a killed run leaves in its temp names)."""
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)  # fmt: skip
    return int(finished.stdout)


# 1. --table names only tables recsql made for recommendations


def test_score_refuses_to_overwrite_model_registry(warehouse) -> None:
    before = warehouse.query("select * from model_registry")
    result = run(warehouse, "score", "--table", "model_registry")
    assert_one_line_error(
        result,
        "recsql keeps its models there",
        "may name a recommendations table recsql made (recommendations)",
        exit_code=2,
    )
    assert warehouse.query("select * from model_registry") == before
    assert "recommendations" not in table_names(warehouse)  # refused before any work


@pytest.mark.parametrize(
    "table",
    ["model_metrics", "feature_importance", "recsql_outputs", "fct_candidates", "similar_items",
     "int_items_clean", "main.MODEL_REGISTRY"],
)  # fmt: skip
def test_score_refuses_tables_it_does_not_own(warehouse, table) -> None:
    before = {name: warehouse.query(f"select count(*) from {name}") for name in ("fct_candidates", "model_metrics")}  # fmt: skip
    result = run(warehouse, "score", "--table", table)
    assert result.exit_code == 2, result.output
    assert "It may name a recommendations table recsql made" in result.output
    assert {name: warehouse.query(f"select count(*) from {name}") for name in before} == before


def test_a_table_the_user_made_is_never_overwritten(warehouse) -> None:
    with duckdb.connect(str(warehouse.db)) as con:
        con.execute("create table my_notes as select 'keep me' as note")
    result = run(warehouse, "score", "--table", "my_notes")
    assert result.exit_code == 2
    assert "main.my_notes already exists and recsql did not make it" in result.output
    assert warehouse.query("select * from my_notes") == [("keep me",)]


def test_a_new_table_in_an_existing_schema_is_created_recorded_and_reusable(warehouse) -> None:
    with duckdb.connect(str(warehouse.db)) as con:
        con.execute("create schema bi")
    for _ in range(2):
        result = run(warehouse, "score", "--table", "bi.recs", "--top-k", "2")
        assert result.exit_code == 0, result.output
    assert warehouse.query("select table_schema, table_name from recsql_outputs") == [("bi", "recs")]  # fmt: skip
    assert warehouse.query("select count(distinct run_id) from bi.recs_history") == [(2,)]
    refused = run(warehouse, "score", "--table", "model_registry")
    assert "(bi.recs, recommendations)" in refused.output  # what it may name, listed


# 2. a damaged hnswlib index is rebuilt inside the next dbt build, never a segfault


def test_a_damaged_index_is_rebuilt_by_the_next_dbt_build(demo_warehouse, tmp_path) -> None:
    copy = copy_warehouse(demo_warehouse, tmp_path / "warehouse")
    before = copy.query("select count(*) from similar_items")
    (index_file,) = (copy.root / "indexes" / "items").glob("*/index.bin")
    data = bytearray(index_file.read_bytes())
    data[:16] = bytes(16)  # the header: hnswlib raised from deep inside on this
    data[len(data) // 2 : len(data) // 2 + 16] = b"\xff" * 16  # the body: it segfaulted
    index_file.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="rebuilding the 'items' index"):
        copy.build(select="int_item_neighbours similar_items")
    assert copy.query("select count(*) from similar_items") == before


# 3. model files are verified before LightGBM sees them


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_sixteen_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for offset in range(len(data) // 2, len(data) // 2 + 16):
        data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def change_leaf_digits(path: Path) -> None:
    text = path.read_text()
    line = re.search(r"^leaf_value=.*$", text, flags=re.MULTILINE)
    changed = re.sub(r"\d", lambda d: str((int(d.group()) + 1) % 10), line.group(), count=3)
    assert len(changed) == len(line.group()) and changed != line.group()
    path.write_text(text[: line.start()] + changed + text[line.end() :])


@pytest.mark.parametrize(
    ("damage", "file", "says"),
    [
        (truncate, "model.txt", "does not match the checksum recorded when it was trained"),
        (flip_sixteen_bytes, "model.txt", "does not match the checksum recorded when it was trained"),
        (change_leaf_digits, "model.txt", "does not match the checksum recorded when it was trained"),
        (Path.unlink, "model.txt", "is missing"),
        (lambda p: p.write_text(p.read_text()[:-40]), "metadata.json", "is not valid JSON"),
        (lambda p: p.write_text(re.sub(r'"model_sha256": "\w+"', '"model_sha256": "0"', p.read_text())),
         "metadata.json", "and model_registry disagree"),
    ],
    ids=["truncated", "16-flipped-bytes", "changed-leaf-digits", "missing", "garbled-metadata",
         "edited-checksum"],
)  # fmt: skip
def test_a_damaged_model_file_is_one_clear_error_naming_it(warehouse, damage, file, says) -> None:
    path = model_folder(warehouse) / file
    damage(path)
    result = run(warehouse, "score")
    assert_one_line_error(result, str(path), says, "run `recsql train` again")
    assert "recommendations" not in table_names(warehouse)


def test_the_checksum_of_model_txt_is_in_its_metadata_and_the_registry(warehouse) -> None:
    import json

    folder = model_folder(warehouse)
    digest = hashlib.sha256((folder / "model.txt").read_bytes()).hexdigest()
    assert json.loads((folder / "metadata.json").read_text())["model_sha256"] == digest
    assert warehouse.query("select model_sha256 from model_registry") == [(digest,)]


# 4. model folders are found in the warehouse that holds the DuckDB file


def test_the_registry_stores_model_folders_relative_to_the_warehouse(warehouse) -> None:
    (version, stored) = warehouse.query("select model_version, path from model_registry")[0]
    assert stored == f"models/{version}"


def test_score_works_from_any_working_directory(warehouse, tmp_path, monkeypatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for name in ("RECSQL_WAREHOUSE", "RECSQL_DB", "DBT_PROFILES_DIR"):
        monkeypatch.delenv(name, raising=False)
    db = str(warehouse.db.resolve())
    result = CliRunner().invoke(cli, ["score", "--db", db, "--top-k", "2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert warehouse.query("select count(*) > 0 from recommendations") == [(True,)]


def test_score_never_uses_another_warehouses_model(
    trained_warehouse, tmp_path, monkeypatch
) -> None:
    first = copy_warehouse(trained_warehouse, tmp_path / "a" / "warehouse")
    second = copy_warehouse(trained_warehouse, tmp_path / "b" / "warehouse")
    shutil.rmtree(model_folder(second))  # the second warehouse lost its model
    monkeypatch.chdir(tmp_path / "a")  # where `warehouse/models/<version>` is the first's
    with first.env():  # RECSQL_WAREHOUSE points at the first warehouse
        result = CliRunner().invoke(cli, ["score", "--db", str(second.db)], catch_exceptions=False)
    assert_one_line_error(result, str(model_folder(second)), "run `recsql train` again")
    assert "recommendations" not in table_names(second)


def test_a_moved_warehouse_scores_with_its_own_model(warehouse, tmp_path) -> None:
    moved = tmp_path / "moved"
    shutil.move(warehouse.root, moved)
    result = run(Warehouse(moved, warehouse.cache), "score", "--top-k", "2")
    assert result.exit_code == 0, result.output


# 7. one-line errors; tracebacks only with --debug


@pytest.fixture
def holder(warehouse):
    """Another process holding the DuckDB file's write lock until told to stop."""
    code = f"import duckdb, sys; con = duckdb.connect({str(warehouse.db)!r}); print('ready', flush=True); sys.stdin.read()"  # fmt: skip
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert process.stdout.readline().strip() == "ready"
    yield process
    process.stdin.close()
    process.wait(timeout=30)


@pytest.mark.parametrize("command", ["score", "show", "export", "train", "summary"])
def test_a_locked_warehouse_waits_then_names_the_process_holding_it(warehouse, holder, command) -> None:  # fmt: skip
    started = time.monotonic()
    result = run(warehouse, command, "--wait", "1")
    waited = time.monotonic() - started
    assert_one_line_error(
        result, "is in use by another process", f"PID {holder.pid}", "--wait SECONDS"
    )
    assert 1 <= waited < 20


def test_a_lock_released_during_the_wait_lets_the_command_run(warehouse, holder) -> None:
    release = threading.Timer(1.5, holder.stdin.close)  # the holder exits in 1.5 s
    release.start()
    started = time.monotonic()
    result = run(warehouse, "show", "--wait", "30")
    release.join()
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 1.5
    assert "is in use by another process" in result.stderr  # it said why it was waiting


def test_dbt_waits_for_a_lock_held_for_a_moment(warehouse, holder) -> None:
    """profiles.yml retries the connection (1, 2, 4 s): a build that starts while recsql serve
    copies a run, or a score finishes, waits instead of failing."""
    threading.Timer(2.0, holder.stdin.close).start()  # the holder lets go after 2 s
    started = time.monotonic()
    warehouse.dbt("run", "--select", "ranker_features")
    assert time.monotonic() - started >= 2.0
    assert warehouse.query("select count(*) from ranker_features")[0][0] > 10


def test_train_before_any_dbt_build_says_to_run_dbt_build(tmp_path) -> None:
    db = tmp_path / "recsql.duckdb"
    duckdb.connect(str(db)).close()  # a file, but nothing built in it
    result = CliRunner().invoke(cli, ["train", "--db", str(db)], catch_exceptions=False)
    assert_one_line_error(result, "has no table ranker_features", "dbt build")


def test_a_table_in_a_missing_schema_is_refused_before_scoring(warehouse, monkeypatch) -> None:
    def scoring_started(*args, **kwargs):
        raise AssertionError("scored before checking --table")

    monkeypatch.setattr(scoring, "_predict_part", scoring_started)
    result = run(warehouse, "score", "--table", "nosuch.recs")
    assert_one_line_error(result, "schema nosuch does not exist", exit_code=2)


def test_export_to_a_folder_that_cannot_be_made_is_one_line(warehouse) -> None:
    assert_one_line_error(run(warehouse, "export", "--out", "/proc/x"), "cannot use /proc/x")


def test_a_memory_limit_that_is_not_a_size_is_one_line(warehouse) -> None:
    result = run(warehouse, "show", RECSQL_MEMORY_LIMIT="banana")
    assert_one_line_error(result, "'banana'", "RECSQL_MEMORY_LIMIT", "4GB")


def test_a_file_that_is_not_a_duckdb_database_is_one_line(tmp_path) -> None:
    readme = shutil.copy(REPO / "README.md", tmp_path / "README.md")
    for command in ("score", "train", "show", "export", "summary"):
        result = CliRunner().invoke(cli, [command, "--db", str(readme)], catch_exceptions=False)
        assert_one_line_error(result, "is not a DuckDB database file")


def test_a_full_disk_is_one_line(warehouse, monkeypatch) -> None:
    def disk_full(con, table, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(export, "_copy_table", disk_full)
    result = run(warehouse, "export")
    assert_one_line_error(result, "no space left on the device", "free some space")
    assert not list((warehouse.root / "exports").glob("*.parquet"))


def test_tracebacks_appear_only_with_debug(tmp_path) -> None:
    not_a_database = tmp_path / "notes.duckdb"
    not_a_database.write_text("hello\n" * 100)
    command = [sys.executable, "-c", "from recsql.cli import cli; cli()"]
    plain = subprocess.run([*command, "score", "--db", str(not_a_database)], capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert plain.returncode == 1
    assert plain.stderr.strip().count("\n") == 0 and "is not a DuckDB database file" in plain.stderr
    debug = subprocess.run([*command, "--debug", "score", "--db", str(not_a_database)], capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert debug.returncode == 1 and "Traceback" in debug.stderr


# 9. what a killed run leaves behind


def test_train_removes_the_temporary_folders_a_killed_train_left(warehouse) -> None:
    models = warehouse.root / "models"
    stale = [models / f".tmp-{dead_pid()}-0123456789ab", models / f".tmp-{'cd' * 16}"]
    running = models / f".tmp-{os.getpid()}-0123456789ab"  # a save still going: kept
    for folder in [*stale, running]:
        folder.mkdir()
        (folder / "model.txt").write_text("")
    result = run(warehouse, "train", "--rounds", "3", "--early-stopping", "2", "--json")
    assert result.exit_code == 0, result.output
    assert not any(folder.exists() for folder in stale) and running.exists()


def test_complete_but_unregistered_model_folders_are_ignored(warehouse) -> None:
    registered = warehouse.query("select model_version from model_registry")[0][0]
    orphan = (
        warehouse.root / "models" / "99991231T235959-ffffff"
    )  # newest by name, never registered
    shutil.copytree(model_folder(warehouse), orphan)
    truncate(orphan / "model.txt")
    result = run(warehouse, "score", "--top-k", "2")
    assert result.exit_code == 0, result.output
    assert warehouse.query("select distinct model_version from recommendations") == [(registered,)]


def test_export_temp_files_are_outside_the_glob_and_stale_ones_removed(warehouse, monkeypatch) -> None:  # fmt: skip
    exports = warehouse.root / "exports"
    stale_hidden = exports / export.TEMPORARY_DIR / f"export-{dead_pid()}-0123456789ab.recommendations.parquet.tmp"  # fmt: skip
    legacy = exports / f".recommendations.{'ab' * 16}.parquet"  # what exports used to leave
    stale_hidden.parent.mkdir(parents=True)
    for path in (stale_hidden, legacy):
        path.write_bytes(b"PAR1 half a file")
    seen_while_writing = []
    copy_table = export._copy_table

    def copy_and_look(con, table, path):
        copy_table(con, table, path)
        with duckdb.connect() as reader:  # a dashboard globbing the folder mid-export
            seen_while_writing.extend(row[0] for row in reader.execute("select file from glob(?)", [f"{exports}/*.parquet"]).fetchall())  # fmt: skip

    monkeypatch.setattr(export, "_copy_table", copy_and_look)
    run(warehouse, "score", "--top-k", "2")
    result = run(warehouse, "export")
    assert result.exit_code == 0, result.output
    assert not stale_hidden.exists() and not legacy.exists()
    assert all(Path(file).name in {f"{t}.parquet" for t in export.EXPORTED_TABLES} for file in seen_while_writing)  # fmt: skip
    assert not list((exports / export.TEMPORARY_DIR).iterdir())


def test_a_score_killed_in_the_swap_leaves_the_old_table_and_no_staging(warehouse) -> None:
    assert run(warehouse, "score", "--top-k", "3").exit_code == 0
    before = warehouse.query("select * from recommendations order by user_id, rank")
    killed = textwrap.dedent(f"""
        import os
        from recsql import scoring
        scoring.before_swap = lambda: os._exit(9)  # killed inside the swap transaction
        scoring.score_serve_snapshot({str(warehouse.db)!r}, top_k=10)
    """)
    env = {**os.environ, "RECSQL_WAREHOUSE": str(warehouse.root), "RECSQL_CACHE": str(warehouse.cache)}  # fmt: skip
    assert subprocess.run([sys.executable, "-c", killed], env=env, cwd=REPO).returncode == 9
    assert warehouse.query("select * from recommendations order by user_id, rank") == before
    assert not {name for name in table_names(warehouse) if "staging" in name}


def test_a_staging_table_an_older_score_left_is_dropped_by_the_next(warehouse) -> None:
    with duckdb.connect(str(warehouse.db)) as con:
        con.execute("create table recommendations__staging as select 1 as half_written")
    assert run(warehouse, "score", "--top-k", "2").exit_code == 0
    assert "recommendations__staging" not in table_names(warehouse)
