"""Point-in-time correctness: nothing a snapshot computes may change when events at or after
its cutoff are added, removed or changed. Two real builds of the same shop, compared."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from tests.conftest import Warehouse

TRAIN_CUTOFF = "2025-11-01"
TEST_CUTOFF = "2025-12-01"
CUTOFFS = {"train_cutoff": TRAIN_CUTOFF, "test_cutoff": TEST_CUTOFF}

# tables keyed by snapshot that hold features or candidates, and the columns that identify a row
POINT_IN_TIME = {
    "int_item_popularity": ["item_id"],
    "int_user_item_history": ["user_id", "item_id"],
    "int_user_aggregates": ["user_id"],
    "int_user_category_affinity": ["user_id", "category"],
    "int_user_brand_affinity": ["user_id", "brand"],
    "int_item_covisitation": ["item_id", "neighbour_item_id"],
    "int_available_items": ["item_id"],
}
# per-user tables of the users a snapshot ranks (in train/test: the labelled ones, so the
# future decides *who* is ranked; for the users ranked in both builds nothing may differ)
PER_SNAPSHOT_USER = {
    "int_user_profiles": ["user_id"],
    "int_candidates": ["user_id", "item_id"],
    "int_candidate_similarity": ["user_id", "item_id"],
    "fct_candidates": ["user_id", "item_id"],
}
# not compared: the labels (the future decides them) and a build's own row numbers
IGNORED_COLUMNS = {"label", "label_grade", "candidate_id"}


def mutate_events_from(source: Warehouse, target: Warehouse, cutoff: str) -> None:
    """Copy the shop, then rewrite its history at and after `cutoff`: drop a third of those
    events, move another third to other items, and add events exactly at the cutoff, after it,
    and a return after the cutoff of purchases made before it."""
    shutil.copytree(source.raw, target.raw, dirs_exist_ok=True)
    path = target.raw / "interactions.parquet"
    with duckdb.connect() as con:
        con.execute(f"create table events as select * from '{source.raw / 'interactions.parquet'}'")
        con.execute(
            f"""
            create table mutated as
            with numbered as (select *, row_number() over () as n from events),
            items as (select distinct item_id from events where item_id is not null),
            before as (select * exclude (n) from numbered where not (event_ts >= timestamp '{cutoff}')
                       or event_ts is null),
            after as (select * from numbered where event_ts >= timestamp '{cutoff}'),
            kept as (select * exclude (n) from after where n % 3 = 0),
            moved as (select * exclude (n) replace (item_id + 1 as item_id) from after where n % 3 = 1),
            at_cutoff as (
                select * replace (timestamp '{cutoff}' as event_ts, 'at-' || order_id as order_id)
                from before where event_type = 'purchase' using sample 200 rows (reservoir, 1)
            ),
            returned as (
                select * replace (
                    timestamp '{cutoff}' + interval 2 day as event_ts, 'return' as event_type,
                    -quantity as quantity, 'C' || order_id as order_id)
                from before where event_type = 'purchase' and event_ts < timestamp '{cutoff}'
                using sample 200 rows (reservoir, 2)
            )
            select * from before
            union all select * from kept
            union all select * from moved
            union all select * from at_cutoff
            union all select * from returned
            """
        )
        changed = con.execute("select count(*) from events").fetchall()[0][0]
        assert changed > 0
        con.execute(f"copy mutated to '{path}' (format parquet)")


def rows_of(warehouse: Warehouse, table: str, snapshot: str, users: set[str] | None) -> set:
    columns = [c for c in warehouse.columns(table) if c not in IGNORED_COLUMNS]
    rows = warehouse.query(
        f'select {", ".join(columns)} from "{table}" where snapshot = ?', [snapshot]
    )
    if users is not None:
        position = columns.index("user_id")
        rows = [row for row in rows if row[position] in users]
    return {tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows}


def describe(warehouse: Warehouse, table: str, before: set, after: set) -> str:
    """Name the columns that differ between two row sets, for a failure message that helps."""
    columns = [c for c in warehouse.columns(table) if c not in IGNORED_COLUMNS]
    width = len(columns)
    lines = []
    for old in sorted(before - after, key=str)[:5]:
        close = min(
            after - before,
            key=lambda new: sum(x != y for x, y in zip(old, new, strict=True)),
            default=None,
        )
        changed = [
            f"{name}: {x!r} -> {y!r}"
            for name, x, y in zip(columns, old, close or (None,) * width, strict=True)
            if x != y
        ]
        lines.append(f"{old[:3]}: " + ", ".join(changed))
    return f"{table}: {len(before ^ after)} rows differ\n" + "\n".join(lines)


def assert_snapshot_unchanged(a: Warehouse, b: Warehouse, snapshot: str) -> None:
    for table in POINT_IN_TIME:
        before, after = rows_of(a, table, snapshot, None), rows_of(b, table, snapshot, None)
        assert before, f"{table} has no rows for {snapshot}: the test would prove nothing"
        assert before == after, describe(a, table, before, after)
    users_a = {
        u
        for (u,) in a.query("select user_id from int_snapshot_users where snapshot = ?", [snapshot])
    }
    users_b = {
        u
        for (u,) in b.query("select user_id from int_snapshot_users where snapshot = ?", [snapshot])
    }
    common = users_a & users_b
    assert len(common) > 0.5 * len(users_a)
    for table in PER_SNAPSHOT_USER:
        before, after = rows_of(a, table, snapshot, common), rows_of(b, table, snapshot, common)
        assert before, f"{table} has no rows for {snapshot}"
        assert before == after, describe(a, table, before, after)


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory, embedding_cache) -> Warehouse:
    from recsql.demo_data import generate_demo_data

    warehouse = Warehouse(tmp_path_factory.mktemp("leakage-original"), embedding_cache)
    generate_demo_data(warehouse.raw, users=300, items=250, days=120, seed=11)
    warehouse.build(vars=CUTOFFS)
    return warehouse


@pytest.mark.parametrize(
    ("mutate_from", "unchanged_snapshots"),
    [(TEST_CUTOFF, ["train", "test"]), (TRAIN_CUTOFF, ["train"])],
)
def test_features_and_candidates_ignore_events_at_or_after_the_cutoff(
    original: Warehouse, tmp_path, embedding_cache, mutate_from, unchanged_snapshots
) -> None:
    mutated = Warehouse(tmp_path, embedding_cache)
    mutate_events_from(original, mutated, mutate_from)
    mutated.build(vars=CUTOFFS)
    assert mutated.query("select count(*) from int_interactions_clean") != original.query(
        "select count(*) from int_interactions_clean"
    )
    for snapshot in unchanged_snapshots:
        assert_snapshot_unchanged(original, mutated, snapshot)
