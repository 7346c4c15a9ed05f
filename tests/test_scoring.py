"""recsql score, export and the CLI around them, on a trained demo warehouse."""

from __future__ import annotations

import duckdb
import pytest
from click.testing import CliRunner

from recsql import scoring
from recsql.cli import cli
from tests.conftest import Warehouse, copy_warehouse


@pytest.fixture
def warehouse(trained_warehouse: Warehouse, tmp_path) -> Warehouse:
    return copy_warehouse(trained_warehouse, tmp_path)


def run(warehouse: Warehouse, *args: str):
    with warehouse.env():
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_score_writes_the_top_k_per_user_with_reasons(warehouse) -> None:
    result = run(warehouse, "score", "--top-k", "5")
    assert result.exit_code == 0, result.output
    serve_users = warehouse.query(
        "select count(distinct user_id) from fct_candidates where split = 'serve'"
    )[0][0]
    rows = warehouse.query(
        "select count(*), count(distinct user_id), max(rank), count(distinct run_id),"
        " count(*) filter (where reason is null or reason = '') from recommendations"
    )[0]
    assert rows == (5 * serve_users, serve_users, 5, 1, 0)
    ordered = warehouse.query(
        "select count(*) from recommendations as a inner join recommendations as b"
        " on a.user_id = b.user_id and a.rank < b.rank and a.score < b.score"
    )
    assert ordered == [(0,)]  # ranks follow scores
    reasons = {
        reason.split(" ")[0] for (reason,) in warehouse.query("select reason from recommendations")
    }
    assert len(reasons) >= 3  # not one canned sentence
    assert warehouse.query("select count(*) from recommendations_history")[0][0] == 5 * serve_users


def test_the_same_model_and_data_give_the_same_recommendations(warehouse) -> None:
    run(warehouse, "score", "--top-k", "10")
    first = warehouse.query(
        "select user_id, rank, item_id, score from recommendations order by all"
    )
    run(warehouse, "score", "--top-k", "10")
    assert (
        warehouse.query("select user_id, rank, item_id, score from recommendations order by all")
        == first
    )
    assert warehouse.query("select count(distinct run_id) from recommendations_history") == [(2,)]


def test_scoring_in_parts_gives_the_same_recommendations(warehouse, monkeypatch) -> None:
    run(warehouse, "score", "--top-k", "10")
    whole = warehouse.query(
        "select user_id, rank, item_id, score, reason from recommendations order by all"
    )
    serve_rows = warehouse.query("select count(*) from fct_candidates where split = 'serve'")[0][0]
    monkeypatch.setattr(scoring, "ROWS_PER_PART", serve_rows // 7)  # 8 parts, split by user
    run(warehouse, "score", "--top-k", "10")
    in_parts = warehouse.query(
        "select user_id, rank, item_id, score, reason from recommendations order by all"
    )
    assert in_parts == whole


def test_a_failure_mid_write_leaves_the_previous_recommendations(warehouse, monkeypatch) -> None:
    run(warehouse, "score", "--top-k", "3")
    before = warehouse.query("select * from recommendations order by user_id, rank")

    def crash() -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(scoring, "before_swap", crash)
    with warehouse.env(), pytest.raises(RuntimeError, match="disk full"):
        scoring.score_serve_snapshot(warehouse.db, top_k=10)
    assert warehouse.query("select * from recommendations order by user_id, rank") == before
    tables = {
        name for (name,) in warehouse.query("select table_name from information_schema.tables")
    }
    assert "recommendations__staging" not in tables


def test_a_model_feature_mismatch_names_the_columns(warehouse) -> None:
    with duckdb.connect(str(warehouse.db)) as con:
        con.execute("insert into ranker_features values ('item_shiny_new', 'item', 'numeric', 999)")
        con.execute("alter table fct_candidates drop column user_item_times_bought")
    result = run(warehouse, "score")
    assert result.exit_code == 1
    assert "missing from fct_candidates: user_item_times_bought" in result.output
    assert "not in the model: item_shiny_new" in result.output
    assert "Traceback" not in result.output


def test_an_injection_through_an_option_is_refused(warehouse) -> None:
    result = run(warehouse, "score", "--table", "recs; drop table fct_candidates")
    assert result.exit_code == 2
    assert "is not a plain table or column name" in result.output
    assert warehouse.query("select count(*) > 0 from fct_candidates") == [(True,)]


def test_a_bi_tool_reads_the_results_through_sqlalchemy(warehouse) -> None:
    import sqlalchemy

    run(warehouse, "score", "--top-k", "5")
    engine = sqlalchemy.create_engine(f"duckdb:///{warehouse.db}", connect_args={"read_only": True})
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sqlalchemy.text(
                    "select user_id, rank, item_id, reason from recommendations where rank = 1 limit 3"
                )
            ).fetchall()
    finally:
        engine.dispose()
    assert len(rows) == 3 and all(row.rank == 1 for row in rows)


def test_export_writes_parquet_a_dashboard_can_read(warehouse) -> None:
    run(warehouse, "score", "--top-k", "5")
    result = run(warehouse, "export")
    assert result.exit_code == 0, result.output
    exported = warehouse.root / "exports" / "recommendations.parquet"
    with duckdb.connect() as con:
        count = con.execute(f"select count(*) from '{exported}'").fetchall()[0][0]
        assert (warehouse.root / "exports" / "similar_items.parquet").exists()
    assert count == warehouse.query("select count(*) from recommendations")[0][0]


def test_show_prints_metrics_and_users_side_by_side(warehouse) -> None:
    run(warehouse, "score", "--top-k", "5")
    result = run(warehouse, "show", "--users", "2")
    assert result.exit_code == 0, result.output
    assert "ranker" in result.output and "popularity_recent" in result.output
    assert result.output.count("\nUser ") == 2


def test_commands_on_a_missing_warehouse_say_what_to_run(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RECSQL_WAREHOUSE", str(tmp_path))
    for command in ("train", "score", "export", "show", "summary"):
        result = CliRunner().invoke(cli, [command])
        assert result.exit_code == 1, command
        assert "dbt build" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("method", ["ranker", "gen_repurchase"])
def test_caps_keep_lists_varied_and_full(warehouse, method) -> None:
    """--max-per-category 1 --max-per-brand 2: no list holds two items of one category or three
    of one brand; the next best fill the places, so lists stay full where candidates allow."""
    result = run(
        warehouse, "score", "--top-k", "5", "--method", method,
        "--max-per-category", "1", "--max-per-brand", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = """
        select recommendations.user_id, recommendations.rank, candidates.category, candidates.brand
        from recommendations inner join fct_candidates as candidates
            on candidates.split = 'serve' and recommendations.user_id = candidates.user_id
            and recommendations.item_id = candidates.item_id
    """
    over = warehouse.query(
        f"select count(*) from (select user_id, category from ({shown}) where category is not null"
        " group by all having count(*) > 1)"
        f" union all select count(*) from (select user_id, brand from ({shown})"
        " where brand is not null group by all having count(*) > 2)"
    )
    assert over == [(0,), (0,)]
    full = warehouse.query("select count(*) filter (where n = 5), count(*) from (select user_id,"
                           " count(*) as n from recommendations group by user_id)")[0]  # fmt: skip
    assert full[0] > 0.5 * full[1], full
    # the best item always survives the caps: it is first with or without them
    first = warehouse.query("select user_id, item_id from recommendations where rank = 1")
    assert run(warehouse, "score", "--top-k", "5", "--method", method).exit_code == 0
    assert warehouse.query("select user_id, item_id from recommendations where rank = 1") == first
