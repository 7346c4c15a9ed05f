"""Cleaning rules on hand-written tiny inputs: each kind of dirt, each shape of input."""

from __future__ import annotations

import duckdb
import pytest

from tests.conftest import Warehouse

CLEANING = "+int_interactions_clean +int_interactions_rejected +int_items_rejected"
AS_OF = "2026-01-01"


def write(path, header: str, rows: list[tuple]) -> None:
    """Write rows through DuckDB (CSV or Parquet by extension), columns typed as given."""
    with duckdb.connect() as con:
        con.execute(f"create table t ({header})")
        if rows:
            placeholders = ", ".join("?" for _ in rows[0])
            con.executemany(f"insert into t values ({placeholders})", rows)
        fmt = "csv, header true" if path.suffix == ".csv" else "parquet"
        con.execute(f"copy t to '{path}' (format {fmt})")


ITEMS_HEADER = (
    "item_id bigint, title varchar, description varchar, category varchar, brand varchar,"
    " price double, created_at timestamp"
)
ITEMS = [
    (1, "Ｇｒｅｅｋ  Yoghurt\u00a0500g ", "thick and creamy", "Dairy", "Alpenhof", 3.0, None),
    (2, "Sourdough Loaf", None, "Bakery", None, 4.0, None),
    (2, "Sourdough Loaf (repeat)", None, "Bakery", None, 4.0, None),
    (None, "No id", None, None, None, 1.0, None),
]
EVENTS_HEADER = (
    "user_id varchar, item_id bigint, event_ts varchar, event_type varchar, quantity integer,"
    " price double, order_id varchar"
)
# (row, expected reason or None when kept); raw_row_id = position + 1
EVENTS = [
    (("u1", 1, "2025-01-01 10:00:00", "purchase", 2, 3.0, "o1"), None),
    (("u1", 1, "2025-01-01 10:00:00", "purchase", 2, 3.0, "o1"), "duplicate"),
    ((None, 1, "2025-01-01 11:00:00", "purchase", 1, 3.0, "o3"), "missing_user_id"),
    (("u1", None, "2025-01-01 11:00:00", "purchase", 1, 3.0, "o3"), "missing_item_id"),
    (("u1", 1, "not a date", "purchase", 1, 3.0, "o4"), "invalid_event_ts"),
    (("u1", 1, "2095-06-01 00:00:00", "purchase", 1, 3.0, "o5"), "future_event_ts"),
    (("u1", 999, "2025-01-02 10:00:00", "purchase", 1, 3.0, "o6"), "unknown_item"),
    (("u1", 1, "2025-01-02 10:00:00", "purchase", 1, 0.0, "o7"), "non_positive_price"),
    (("u1", 1, "2025-01-02 11:00:00", "purchase", 1, -3.0, "o8"), "non_positive_price"),
    (("u1", 1, "2025-01-02 12:00:00", "purchase", 1, 300.0, "o9"), "price_outlier"),
    (("u1", 1, "2025-01-02 13:00:00", "purchase", 0, 3.0, "o10"), "zero_quantity"),
    (("u2", 2, "2025-01-03 09:00:00", "purchase", 1, 4.0, "o11"), None),  # returned below
    (("u2", 2, "2025-01-05 09:00:00", "return", -1, 4.0, "Co11"), "return"),
    (("u3", 2, "2025-01-03 09:00:00", "purchase", 3, 4.0, "o13"), None),  # partly returned
    (("u3", 2, "2025-01-06 09:00:00", "purchase", -1, 4.0, "Co13"), "return"),
    (("u4", 1, "2025-01-04T08:30:00", "purchase", 1, 3.1, None), None),  # ISO 'T', no order id
    (("u4", 1, "2025-01-04 09:00:00", "purchase", 1, 4006381333931.0, "o17"), "price_out_of_range"),
]


@pytest.fixture
def dirty_shop(new_warehouse: Warehouse) -> Warehouse:
    write(new_warehouse.raw / "items.parquet", ITEMS_HEADER, ITEMS)
    write(new_warehouse.raw / "interactions.csv", EVENTS_HEADER, [row for row, _ in EVENTS])
    write(new_warehouse.raw / "users.parquet", "user_id varchar, signup_date date", [])
    new_warehouse.build(
        vars={"interactions_path": str(new_warehouse.raw / "interactions.csv"), "as_of_ts": AS_OF},
        select=CLEANING,
    )
    return new_warehouse


def test_each_kind_of_dirt_is_quarantined_with_its_reason(dirty_shop: Warehouse) -> None:
    rejected = dict(dirty_shop.query("select raw_row_id, reason from int_interactions_rejected"))
    kept = {row for (row,) in dirty_shop.query("select raw_row_id from int_interactions_clean")}
    for position, (_, reason) in enumerate(EVENTS, start=1):
        if reason is None:
            assert position in kept and position not in rejected, position
        else:
            assert rejected.get(position) == reason, (position, rejected.get(position))
    assert len(kept) + len(rejected) == len(EVENTS)


def test_a_returned_purchase_is_kept_with_the_time_it_was_cancelled(dirty_shop: Warehouse) -> None:
    rows = dirty_shop.query(
        "select user_id, quantity, returned_quantity, cast(cancelled_ts as varchar)"
        " from int_interactions_clean where user_id in ('u2', 'u3') order by user_id"
    )
    assert rows == [
        ("u2", 1.0, 1.0, "2025-01-05 09:00:00"),  # fully returned: cancelled from then on
        ("u3", 3.0, 1.0, None),  # partly returned: still a purchase
    ]


def test_ids_are_text_and_iso_times_parse(dirty_shop: Warehouse) -> None:
    rows = dirty_shop.query(
        "select item_id, cast(event_ts as varchar) from int_interactions_clean where user_id = 'u4'"
    )
    assert rows == [("1", "2025-01-04 08:30:00")]


def test_catalog_text_is_normalised_and_repeated_ids_quarantined(dirty_shop: Warehouse) -> None:
    titles = dict(dirty_shop.query("select item_id, title from int_items_clean"))
    assert titles == {"1": "Greek Yoghurt 500g", "2": "Sourdough Loaf"}
    assert sorted(dirty_shop.query("select reason from int_items_rejected")) == [
        ("duplicate_item_id",),
        ("missing_item_id",),
    ]


def test_other_column_names_epoch_times_and_no_catalog_or_users(new_warehouse: Warehouse) -> None:
    write(
        new_warehouse.raw / "clicks.parquet",
        "customer bigint, sku varchar, ts bigint, action varchar",
        [
            (7, "A-1", 1735725600, "click"),  # 2025-01-01 10:00:00 UTC
            (7, "A-2", 1735729200000, "click"),  # milliseconds
            (8, "A-1", 1735812000, "click"),
        ],
    )
    new_warehouse.build(
        vars={
            "interactions_path": str(new_warehouse.raw / "clicks.parquet"),
            "items_path": False,
            "users_path": False,
            "interactions_columns": {
                "user_id": "customer",
                "item_id": "sku",
                "event_ts": "ts",
                "event_type": "action",
                "price": None,
            },
        },
        select=CLEANING,
    )
    rows = new_warehouse.query(
        "select user_id, item_id, cast(event_ts as varchar), event_type, quantity, price"
        " from int_interactions_clean order by event_ts"
    )
    assert rows == [
        ("7", "A-1", "2025-01-01 10:00:00", "click", 1.0, None),
        ("7", "A-2", "2025-01-01 11:00:00", "click", 1.0, None),
        ("8", "A-1", "2025-01-02 10:00:00", "click", 1.0, None),
    ]
    assert new_warehouse.query("select count(*) from int_interactions_rejected") == [(0,)]
    assert new_warehouse.query("select item_id, title from int_items_clean order by 1") == [
        ("A-1", "item A-1"),
        ("A-2", "item A-2"),
    ]


def test_a_missing_column_names_the_file_the_column_and_the_fix(new_warehouse: Warehouse) -> None:
    write(new_warehouse.raw / "interactions.parquet", "user_id varchar, item_id bigint", [])
    with pytest.raises(AssertionError) as failure:
        new_warehouse.build(
            vars={"items_path": False, "users_path": False}, select="stg_interactions"
        )
    message = str(failure.value)
    assert "interactions.parquet" in message
    assert "has no column 'event_ts'" in message
    assert "interactions_columns" in message


def test_the_demo_shops_dirt_is_quarantined_exactly(new_warehouse: Warehouse) -> None:
    from recsql.demo_data import generate_demo_data

    made = generate_demo_data(new_warehouse.raw, users=300, items=200, days=120, seed=3)
    new_warehouse.build(
        vars={"non_product_item_ids": [99990, 99991], "as_of_ts": "2030-01-01"},
        select=CLEANING + " +int_returns",
    )
    reasons = dict(new_warehouse.query("select reason, count(*) from int_interactions_rejected"
                                       " group by reason"))  # fmt: skip
    injected = {kind: count for kind, count in made.dirt.items() if kind != "odd_unicode_title"}
    assert reasons == {kind: count for kind, count in injected.items() if count}
    # every return finds its purchase, half of them by user and item alone (own credit notes)
    by_match = dict(new_warehouse.query("select matched_by, count(*) from int_returns group by 1"))
    assert set(by_match) == {"order_id", "latest_purchase"}
    assert sum(by_match.values()) == made.dirt["return"]


def test_catalog_gaps_are_filled_with_the_logs_most_frequent_text(new_warehouse: Warehouse) -> None:
    write(
        new_warehouse.raw / "items.parquet",
        ITEMS_HEADER,
        [
            (1, None, None, None, None, None, None),
            (2, "Sourdough Loaf", None, "Bakery", None, 4.0, None),
        ],
    )
    write(
        new_warehouse.raw / "interactions.parquet",
        "user_id varchar, item_id bigint, event_ts timestamp, price double, title varchar,"
        " category varchar",
        [
            ("u1", 1, "2025-01-01 10:00:00", 2.0, "Oat  Milk 1L", None),
            ("u2", 1, "2025-01-02 10:00:00", 2.2, "Oat Milk 1L", "Drinks"),
            ("u3", 1, "2025-01-03 10:00:00", 2.4, "OAT MILK", ""),
            ("u1", 2, "2025-01-01 10:00:00", 4.0, "Bread", "Food"),
        ],
    )
    new_warehouse.build(vars={"users_path": False, "as_of_ts": AS_OF}, select=CLEANING)
    assert new_warehouse.query(
        "select item_id, title, category, price from int_items_clean order by item_id"
    ) == [("1", "Oat Milk 1L", "Drinks", 2.2), ("2", "Sourdough Loaf", "Bakery", 4.0)]
