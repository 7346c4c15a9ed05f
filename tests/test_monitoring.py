"""Monitoring in dbt (models/monitoring): drift, balance and quarantine checks fire on data that
is wrong on purpose and stay quiet on the demo shop; `recsql train` prints what did not pass."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from recsql.cli import cli
from recsql.demo_data import generate_demo_data
from tests.conftest import Warehouse, copy_warehouse

SMALL = {"users": 200, "items": 150, "days": 120, "seed": 3}
LATE_DAYS = 120  # the last day's events arrive this much later: serve's window is shifted
BURST_ROWS = 250  # rows without a user id, all in one week: a feed that broke for a week


def checks(warehouse, where: str = "true") -> list[tuple]:
    return warehouse.query(
        f"select check_group, check_name, subject, status from monitor_checks where {where}"
    )


def test_the_demo_passes_every_check(demo_warehouse) -> None:
    drift = demo_warehouse.query("select feature_name, psi, status from monitor_feature_drift")
    features = demo_warehouse.query("select count(*) from ranker_features")[0][0]
    assert len(drift) == features and all(psi is not None for _, psi, _ in drift)
    assert {status for _, _, status in drift} == {"pass"}, max(drift, key=lambda row: row[1])
    groups = {group for group, _, _, _ in checks(demo_warehouse)}
    assert groups == {"drift", "balance", "quarantine"}
    assert checks(demo_warehouse, "status <> 'pass'") == []


def test_drift_bins_are_the_reference_percentiles(demo_warehouse) -> None:
    """monitor_feature_drift_edges reads percentiles off per-value counts (they spill); they
    are DuckDB's own quantile_cont, nulls left out, ties and all-null columns included."""
    edges = demo_warehouse.query("select * from monitor_feature_drift_edges")[0]
    names = [row[0] for row in demo_warehouse.query("describe monitor_feature_drift_edges")]
    features = sorted({name.rsplit("__", 1)[0] for name in names})
    expected = demo_warehouse.query(
        "select "
        + ", ".join(
            f"quantile_cont(cast({feature} as double), [0.01, 0.99])" for feature in features
        )
        + " from fct_candidates where snapshot = 'test' and split <> 'serve'"
    )[0]
    by_name = dict(zip(names, edges, strict=True))
    assert len(names) == 2 * len(features) > 40
    all_null = [feature for feature, pair in zip(features, expected, strict=True) if pair is None]
    for feature, pair in zip(features, expected, strict=True):
        for name, value in zip(("low", "high"), pair or (None, None), strict=True):
            measured = by_name[f"{feature}__{name}"]
            if value is None:
                assert measured is None, (feature, name)
            else:
                assert measured == pytest.approx(value, rel=1e-12, abs=1e-12), (feature, name)
    assert len(all_null) < len(features) / 2, all_null


@pytest.fixture(scope="module")
def shifted_warehouse(tmp_path_factory, embedding_cache):
    """A small demo shop whose last day arrives LATE_DAYS later (so the serve snapshot is
    scored long after the data it learned from) and one week of rows without a user id."""
    warehouse = Warehouse(tmp_path_factory.mktemp("shifted-warehouse"), embedding_cache)
    generate_demo_data(warehouse.raw, **SMALL)
    log = warehouse.raw / "interactions.parquet"
    shifted = warehouse.raw / "shifted.parquet"
    duckdb.sql(
        f"""copy (
            select * from '{log}'
            union all
            select * replace (event_ts + interval {LATE_DAYS} day as event_ts, order_id || '-late' as order_id)
            from '{log}' where event_ts >= timestamp '2025-12-31' and event_ts < timestamp '2026-01-01'
            union all
            select * from (
                select * replace (null as user_id, order_id || '-burst' as order_id)
                from '{log}' where event_ts >= timestamp '2025-10-06' and event_ts < timestamp '2025-10-13'
                limit {BURST_ROWS}
            )
        ) to '{shifted}' (format parquet)"""
    )
    shifted.replace(log)
    warehouse.build()
    return warehouse


def test_drift_warns_when_the_serve_window_is_shifted(shifted_warehouse) -> None:
    warned = {
        feature
        for (feature,) in shifted_warehouse.query(
            "select feature_name from monitor_feature_drift where status = 'warn'"
        )
    }
    # windows that end at the cutoff are nearly empty at serve time; recency is months longer
    assert {"item_events_30d", "user_events_30d", "user_days_since_last_event"} <= warned
    assert ("drift", "feature_drift", "item_events_30d", "warn") in checks(shifted_warehouse)


def test_a_week_of_rows_without_user_id_is_a_quarantine_jump(shifted_warehouse) -> None:
    jumped = shifted_warehouse.query(
        "select reason, cast(week as date), rate, trailing_rate from monitor_quarantine"
        " where status = 'warn'"
    )
    assert [(reason, str(week)) for reason, week, _, _ in jumped] == [
        ("missing_user_id", "2025-10-06")
    ]
    (_, _, rate, trailing_rate) = jumped[0]
    assert rate > 10 * trailing_rate
    assert checks(shifted_warehouse, "check_group = 'quarantine' and status <> 'pass'") == [
        ("quarantine", "quarantine_jump", "missing_user_id", "warn")
    ]


@pytest.fixture(scope="module")
def thin_warehouse(tmp_path_factory, embedding_cache):
    """A 40-user demo shop: too few users with a label in each snapshot to learn from."""
    warehouse = Warehouse(tmp_path_factory.mktemp("thin-warehouse"), embedding_cache)
    generate_demo_data(warehouse.raw, users=40, items=60, days=90, seed=5)
    warehouse.build()  # warns (var monitor_balance_severity: warn), does not fail
    return warehouse


def test_balance_checks_fire_on_a_log_with_too_few_labelled_users(thin_warehouse) -> None:
    too_few = thin_warehouse.query(
        "select snapshot, value, threshold, status from monitor_label_balance"
        " where check_name = 'too_few_queries' order by snapshot"
    )
    assert too_few
    assert all(status == "warn" and value < threshold for _, value, threshold, status in too_few)
    labelled = thin_warehouse.query("select snapshot from int_snapshots where split <> 'serve'")
    assert {row[0] for row in too_few} == {snapshot for (snapshot,) in labelled}


def test_balance_checks_can_fail_the_build(thin_warehouse, tmp_path: Path) -> None:
    warehouse = copy_warehouse(thin_warehouse, tmp_path / "copy")
    with pytest.raises(AssertionError, match="monitor_enough_queries_per_snapshot"):
        warehouse.build(vars={"monitor_balance_severity": "error"}, select="monitor_label_balance")
    statuses = warehouse.query(
        "select distinct status from monitor_label_balance where check_name = 'too_few_queries'"
    )
    assert statuses == [("fail",)]


def test_train_prints_the_checks_that_did_not_pass(thin_warehouse, tmp_path: Path) -> None:
    warehouse = copy_warehouse(thin_warehouse, tmp_path / "copy")
    with warehouse.env():
        result = CliRunner().invoke(
            cli, ["train", "--db", str(warehouse.db), "--rounds", "5", "--early-stopping", "2"]
        )
    assert result.exit_code == 0, result.output
    head = result.output.split("model ", 1)[0]  # printed before training
    assert "data checks that did not pass" in head
    assert "WARN too_few_queries [test]" in head and "WARN too_few_queries [train]" in head
