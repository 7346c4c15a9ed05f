"""A shop's raw invoice export fed as it comes (issue 11): one CSV of invoice lines with the
product text only in the log, no catalog, no users file, credit notes with numbers of their
own, service lines (postage, manual adjustments, bank charges), repeated lines of one invoice,
and a warehouse folder that does not exist yet. The whole loop runs on it by vars only."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from recsql.scoring import score_serve_snapshot
from recsql.summary import format_summary, summarise_build
from recsql.training import train_ranker
from tests.conftest import REPO, Warehouse, environment, release_dbt_connection

SERVICE_CODES = {"POST": "POSTAGE", "M": "Manual", "BANK CHARGES": "Bank Charges"}
NOUNS = ["MUG", "TEA LIGHT HOLDER", "LUNCH BAG", "CAKE STAND", "DOORMAT", "BUNTING", "CLOCK"]
COLOURS = ["RED", "WHITE", "PINK", "BLUE", "GREEN", "VINTAGE", "REGENCY", "JUMBO"]
START = datetime(2011, 1, 3, 8, 0)
HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
          "CustomerID", "Country"]  # fmt: skip
VARS = {
    "items_path": False,
    "users_path": False,
    "interactions_columns": {
        "user_id": "CustomerID",
        "item_id": "StockCode",
        "event_ts": "InvoiceDate",
        "quantity": "Quantity",
        "price": "UnitPrice",
        "order_id": "InvoiceNo",
        "title": "Description",
        "event_type": None,
        "rating": None,
    },
    "event_ts_format": "%m/%d/%Y %H:%M",
    "non_product_item_ids": ["POST", "M", "BANK CHARGES"],
    "as_of_ts": "2012-01-01",
}


@dataclass
class InvoiceLog:
    """What the generator wrote, to check the build against."""

    titles: dict[str, str] = field(default_factory=dict)  # stock code -> its usual description
    returns: list[tuple[str, str, str]] = field(
        default_factory=list
    )  # (credit note, code, invoice)
    unmatched_returns: int = 0
    repeated_lines: dict[tuple[str, str], int] = field(default_factory=dict)  # -> total quantity
    service_lines: int = 0
    rows: int = 0


def write_invoice_log(path: Path, customers: int = 140, seed: int = 5) -> InvoiceLog:
    """Invoice lines as a gift shop's till exports them (UCI Online Retail shaped): customers
    favour a few products and re-buy them; a third of invoices carry postage; some descriptions
    have a rarer variant spelling; credit notes are numbered 'C' + their own sequence and return
    a whole line 1-10 days later (only when the customer bought that product nowhere in
    between, so the latest earlier purchase is the one returned); some credit notes return
    what was bought before the log began (nothing to cancel)."""
    rng = np.random.default_rng(seed)
    codes = [f"{84000 + i}{'AB'[i % 2] if i % 5 == 0 else ''}" for i in range(60)]
    log = InvoiceLog()
    for i, code in enumerate(codes):
        log.titles[code] = f"{COLOURS[i % len(COLOURS)]} {NOUNS[i % len(NOUNS)]} {i}"
    price = {code: float(rng.choice([0.85, 1.25, 2.95, 4.95, 7.95])) for code in codes}
    rows: list[list] = []
    bought: dict[tuple[int, str], list[datetime]] = {}
    wanted_returns: list[tuple[int, str, str, datetime, datetime, int]] = []
    invoice, credit = 536000, 580000

    def line(number, code, quantity, when, unit, customer, title=None):
        text = title if title is not None else log.titles.get(code, SERVICE_CODES.get(code))
        stamp = f"{when.month}/{when.day}/{when.year} {when.hour}:{when.minute:02d}"
        rows.append([number, code, text, quantity, stamp, unit, f"{customer}.0", "United Kingdom"])

    for customer in range(12000, 12000 + customers):
        liked = rng.choice(len(codes), size=6, replace=False)
        for _ in range(int(rng.integers(4, 12))):
            invoice += 1
            when = START + timedelta(
                days=int(rng.integers(0, 300)), minutes=int(rng.integers(0, 540))
            )
            basket = rng.choice(liked, size=int(rng.integers(1, 5)), replace=False)
            for k in basket:
                code = codes[k]
                quantity = int(rng.choice([1, 2, 6, 12]))
                variant = k % 5 == 1 and rng.random() < 0.2  # a rarer spelling of the same product
                title = log.titles[code].lower() + " ?" if variant else None
                line(str(invoice), code, quantity, when, price[code], customer, title)
                bought.setdefault((customer, code), []).append(when)
                if rng.random() < 0.08:  # the same product again on the same invoice
                    extra = 1 if quantity != 1 else 2
                    line(str(invoice), code, extra, when, price[code], customer)
                    log.repeated_lines[(str(invoice), code)] = quantity + extra
                elif rng.random() < 0.06:
                    back = when + timedelta(days=int(rng.integers(1, 10)))
                    wanted_returns.append((customer, code, str(invoice), when, back, quantity))
            if rng.random() < 0.35:
                line(str(invoice), "POST", 1, when, 18.0, customer)
                log.service_lines += 1
            if rng.random() < 0.05:
                line(str(invoice), "M", 1, when, round(float(rng.uniform(0.1, 40)), 2), customer)
                log.service_lines += 1
    for customer, code, number, when, back, quantity in wanted_returns:
        if any(when < other <= back for other in bought[(customer, code)]):
            continue  # bought again before returning: the return would cancel the later one
        credit += 1
        line(f"C{credit}", code, -quantity, back, price[code], customer)
        log.returns.append((f"C{credit}", code, number))
    for customer in range(12000, 12000 + customers, 10):  # returns of what came before the log
        code = codes[int(rng.integers(0, len(codes)))]
        if (customer, code) in bought:
            continue
        credit += 1
        line(f"C{credit}", code, -1, START + timedelta(days=2), price[code], customer)
        log.unmatched_returns += 1
    invoice += 1
    line(str(invoice), "BANK CHARGES", 1, START + timedelta(days=100), 15.0, 12000)
    log.service_lines += 1
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        writer.writerows(rows)
    log.rows = len(rows)
    return log


@pytest.fixture(scope="module")
def invoice_shop(tmp_path_factory: pytest.TempPathFactory, embedding_cache: Path):
    """The invoice log, built into a warehouse folder that does not exist before the build."""
    base = tmp_path_factory.mktemp("invoice-shop")
    log = write_invoice_log(base / "Online Retail.csv")
    warehouse = Warehouse(base / "not" / "there" / "yet", embedding_cache)
    assert not warehouse.root.exists()
    warehouse.build(vars={**VARS, "interactions_path": str(base / "Online Retail.csv")})
    return warehouse, log


def test_the_warehouse_folder_is_made_by_the_first_build(tmp_path: Path) -> None:
    # dbt's own logs and target live elsewhere, so nothing but recsql makes the folder
    from dbt.cli.main import dbtRunner

    write_invoice_log(tmp_path / "invoices.csv", customers=5)
    root = tmp_path / "first" / "warehouse"
    command = [
        "build", "--select", "stg_interactions", "--indirect-selection", "cautious",
        "--project-dir", str(REPO / "dbt_project"), "--profiles-dir", str(REPO),
        "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
        "--vars", json.dumps({**VARS, "interactions_path": str(tmp_path / "invoices.csv")}),
    ]  # fmt: skip
    with environment(RECSQL_WAREHOUSE=str(root), RECSQL_CACHE=str(tmp_path / "cache")):
        os.environ.pop("RECSQL_DB", None)
        try:
            result = dbtRunner().invoke(command)
        finally:
            release_dbt_connection()
    assert result.success, result.exception
    assert (root / "recsql.duckdb").is_file()


def test_every_file_row_is_kept_or_rejected_once(invoice_shop) -> None:
    warehouse, log = invoice_shop
    raw, kept, rejected = warehouse.query(
        "select (select count(*) from stg_interactions), (select count(*) from"
        " int_interactions_clean), (select count(*) from int_interactions_rejected)"
    )[0]
    assert raw == log.rows
    assert kept + rejected == raw


def test_titles_come_from_the_log_most_frequent_description(invoice_shop) -> None:
    warehouse, log = invoice_shop
    titles = dict(warehouse.query("select item_id, title from int_items_clean"))
    assert titles == {code: title for code, title in log.titles.items() if code in titles}
    assert len(titles) >= 0.9 * len(log.titles)
    named = warehouse.query("select count(*) from similar_items where title like 'item %'")
    assert named == [(0,)]


def test_every_credit_note_cancels_its_purchase_or_is_counted_unmatched(invoice_shop) -> None:
    warehouse, log = invoice_shop
    cancelled = warehouse.query(
        """
        select returns.order_id, clean.order_id, clean.item_id
        from int_returns as matched
        inner join int_interactions_rejected as returns on matched.return_row_id = returns.raw_row_id
        inner join int_interactions_clean as clean on matched.raw_row_id = clean.raw_row_id
        where matched.matched_by = 'latest_purchase' and clean.cancelled_ts is not null
        """
    )
    assert sorted(cancelled) == sorted((note, invoice, code) for note, code, invoice in log.returns)
    by_match = dict(warehouse.query("select matched_by, count(*) from int_returns group by 1"))
    assert by_match == {"latest_purchase": len(log.returns), "unmatched": log.unmatched_returns}
    summary = format_summary(summarise_build(warehouse.db))
    assert (
        f"0 matched by order id, {len(log.returns)} to the latest earlier purchase,"
        f" {log.unmatched_returns} unmatched" in summary
    )


def test_repeated_lines_of_an_invoice_become_one_event(invoice_shop) -> None:
    warehouse, log = invoice_shop
    assert warehouse.query(
        "select count(*) from (select order_id, item_id from int_interactions_clean"
        " group by 1, 2 having count(*) > 1)"
    ) == [(0,)]
    merged = dict(
        ((order, item), quantity)
        for order, item, quantity in warehouse.query(
            "select order_id, item_id, quantity from int_interactions_clean"
            " where (order_id, item_id) in (select (order_id, item_id)"
            " from int_interactions_rejected where reason = 'merged_line')"
        )
    )
    assert merged == log.repeated_lines
    summary = format_summary(summarise_build(warehouse.db))
    assert f"Merged {len(log.repeated_lines):,} repeated lines" in summary


def test_service_lines_are_quarantined_and_never_recommended(invoice_shop, tmp_path) -> None:
    warehouse, log = invoice_shop
    assert warehouse.query(
        "select count(*) from int_interactions_rejected where reason = 'non_product'"
    ) == [(log.service_lines,)]
    assert warehouse.query(
        "select count(*) from int_items_clean where item_id in ('POST', 'M', 'BANK CHARGES')"
    ) == [(0,)]
    with warehouse.env():
        train_ranker(warehouse.db, rounds=30, seed=1, show_progress=False)
        run = score_serve_snapshot(warehouse.db, top_k=5)
    assert run.rows > 0
    assert warehouse.query(
        "select count(*) from recommendations where item_id in ('POST', 'M', 'BANK CHARGES')"
    ) == [(0,)]


def test_summary_points_at_service_lines_left_in_the_log(new_warehouse: Warehouse) -> None:
    log = write_invoice_log(new_warehouse.raw / "invoices.csv", customers=60, seed=9)
    vars = {**VARS, "interactions_path": str(new_warehouse.raw / "invoices.csv")}
    vars["non_product_item_ids"] = []
    new_warehouse.build(vars=vars, select="+int_interactions_clean +int_returns")
    summary = format_summary(summarise_build(new_warehouse.db))
    hint = summary.split("Items that look like service lines")[1]
    assert "POST" in hint and "POSTAGE" in hint
    assert log.service_lines > 0
