"""What a ``dbt build`` made: row counts, the quarantine by reason, candidate recall.

``make demo`` prints this after the build so a user sees at once whether their data went
through, and what was set aside and why: repeated order lines merged, returns that found no
purchase to cancel, and items that look like service lines (postage, fees) a user may want to
quarantine with the ``non_product_*`` vars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from recsql import warehouse

MAIN_TABLES = (
    "stg_interactions",
    "int_interactions_clean",
    "int_interactions_rejected",
    "int_items_clean",
    "int_snapshots",
    "int_labels",
    "int_item_popularity",
    "int_user_aggregates",
    "int_item_embeddings",
    "similar_items",
    "fct_candidates",
)
MERGED = "merged_line"  # a reason that is bookkeeping, not dirt: printed apart from the quarantine

# Words in an id or title that usually mean a service line, not a product.
SERVICE_WORDS = (
    r"(?i)\b(post|postage|carriage|shipping|delivery|freight|courier|fee|fees|charge|charges"
    r"|manual|adjust|adjustment|discount|sample|samples|voucher|deposit|surcharge)\b"
)
SUSPECT_ORDER_SHARE = 0.05  # in at least this share of all orders ...
SUSPECT_PRICE_SPREAD = 0.5  # ... with paid prices this spread out (std / mean): typed by hand
FIXED_FEE_ORDER_SHARE = 0.2  # or in this share of all orders at one unchanging price: a fee


@dataclass(frozen=True)
class ServiceSuspect:
    """A kept item that looks like a service line, and why."""

    item_id: str
    title: str
    orders: int
    order_share: float
    why: str


@dataclass(frozen=True)
class BuildSummary:
    row_counts: dict[str, int]
    rejected_by_reason: list[tuple[str, int]]
    snapshots: list[tuple[str, str, str, str | None]]
    candidate_recall: list[tuple[str, str, float, float]]
    returns_by_match: dict[str, int] = field(default_factory=dict)  # matched_by -> returns
    service_suspects: list[ServiceSuspect] = field(default_factory=list)
    seen_policy: warehouse.SeenPolicy | None = None


def existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select table_name from information_schema.tables").fetchall()
    return {name for (name,) in rows}


def summarise_build(db: Path) -> BuildSummary:
    """Read the built warehouse (read-only) and collect the figures worth printing."""
    with duckdb.connect(str(db), read_only=True) as con:
        present = existing_tables(con)
        counts = {
            table: con.execute(f'select count(*) from "{table}"').fetchall()[0][0]
            for table in MAIN_TABLES
            if table in present
        }
        reasons = (
            con.execute(
                "select reason, count(*) from int_interactions_rejected"
                " group by reason order by count(*) desc, reason"
            ).fetchall()
            if "int_interactions_rejected" in present
            else []
        )
        snapshots = (
            con.execute(
                "select snapshot, split, strftime(cutoff_ts, '%Y-%m-%d %H:%M'),"
                " strftime(label_end_ts, '%Y-%m-%d %H:%M') from int_snapshots order by cutoff_ts"
            ).fetchall()
            if "int_snapshots" in present
            else []
        )
        recall = (
            con.execute(
                "select snapshot, generator, recall, candidates_per_user from candidate_recall"
                " where split = 'test' order by generator = 'union' desc, recall desc"
            ).fetchall()
            if "candidate_recall" in present
            else []
        )
        returns = (
            dict(
                con.execute(
                    "select matched_by, count(*) from int_returns group by matched_by"
                ).fetchall()
            )
            if "int_returns" in present
            else {}
        )
        suspects = (
            service_line_suspects(con)
            if {"int_interactions_clean", "int_items_clean"} <= present
            else []
        )
        policy = warehouse.seen_policy(con)
    return BuildSummary(counts, reasons, snapshots, recall, returns, suspects, policy)


def service_line_suspects(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[ServiceSuspect]:
    """Kept items that look like service lines: a service word in the id or title, an id with
    no digit where nearly all ids have one ('POST' among '85123A'), a place in a large share of
    orders at prices typed by hand, or in a fifth of all orders at one fixed price. A hint for
    the ``non_product_*`` vars, not a rule."""
    rows = con.execute(
        """
        with
        events as (select item_id, order_id, price from int_interactions_clean),
        items as (select item_id, title from int_items_clean),
        all_orders as (select count(distinct order_id) as orders from events),
        id_shapes as (
            select avg(case when regexp_matches(item_id, '[0-9]') then 1.0 else 0 end) as with_digit
            from items
        ),
        per_item as (
            select
                item_id,
                count(distinct order_id) as orders,
                stddev_samp(price) / nullif(avg(price), 0) as price_spread
            from events
            group by item_id
        ),
        flagged as (
            select
                items.item_id,
                items.title,
                per_item.orders,
                per_item.orders / nullif(all_orders.orders, 0) as order_share,
                concat_ws('; ',
                    case when regexp_matches(items.item_id || ' ' || items.title, ?)
                        then 'a service word in its id or title' end,
                    case when not regexp_matches(items.item_id, '[0-9]') and id_shapes.with_digit >= 0.9
                        then 'an id with no digit, unlike nearly all others' end,
                    case when per_item.orders / nullif(all_orders.orders, 0) >= ?
                            and per_item.price_spread >= ?
                        then 'in many orders at prices typed by hand' end,
                    case when per_item.orders / nullif(all_orders.orders, 0) >= ?
                            and coalesce(per_item.price_spread, 0) < 0.01
                        then 'in a fifth of all orders at one fixed price' end
                ) as why
            from items
            inner join per_item on items.item_id = per_item.item_id
            cross join all_orders
            cross join id_shapes
        )
        select item_id, title, orders, coalesce(order_share, 0), why
        from flagged
        where why <> ''
        order by orders desc, item_id
        limit ?
        """,
        [SERVICE_WORDS, SUSPECT_ORDER_SHARE, SUSPECT_PRICE_SPREAD, FIXED_FEE_ORDER_SHARE, limit],
    ).fetchall()
    return [ServiceSuspect(*row) for row in rows]


def format_summary(summary: BuildSummary) -> str:
    lines = ["Tables built:"]
    lines += [f"  {table:<28}{rows:>12,}" for table, rows in summary.row_counts.items()]
    raw = summary.row_counts.get("stg_interactions")
    quarantined = [
        (reason, count) for reason, count in summary.rejected_by_reason if reason != MERGED
    ]
    merged = sum(count for reason, count in summary.rejected_by_reason if reason == MERGED)
    rejected = sum(count for _, count in quarantined)
    if raw and "int_interactions_rejected" in summary.row_counts:
        lines.append(f"Quarantined {rejected:,} of {raw:,} raw events ({rejected / raw:.2%}):")
        lines += [f"  {reason:<28}{count:>12,}" for reason, count in quarantined]
        if merged:
            lines.append(
                f"Merged {merged:,} repeated lines of an order into the order's first line of"
                " that item (quantity summed, price quantity-weighted)."
            )
    if summary.returns_by_match:
        by = summary.returns_by_match
        lines.append(
            f"Returns: {by.get('order_id', 0):,} matched by order id,"
            f" {by.get('latest_purchase', 0):,} to the latest earlier purchase,"
            f" {by.get('unmatched', 0):,} unmatched (no earlier purchase left to cancel)."
        )
    if summary.service_suspects:
        lines.append(
            "Items that look like service lines, not products (quarantine them with the vars"
            " non_product_item_ids / non_product_titles):"
        )
        lines += [
            f"  {s.item_id:<14}{s.title[:32]:<34}{s.orders:>8,} orders ({s.order_share:.1%}): {s.why}"
            for s in summary.service_suspects
        ]
    if summary.snapshots:
        lines.append("Snapshots (features strictly before the cutoff, labels in [cutoff, end)):")
        lines += [
            f"  {name:<10}{split:<7}cutoff {cutoff}   labels until {end or '-'}"
            for name, split, cutoff, end in summary.snapshots
        ]
    if policy := summary.seen_policy:
        share = "unknown" if policy.rebuy_share is None else f"{policy.rebuy_share:.0%}"
        lines.append(
            f"Items users already had: {'left out of' if policy.exclude else 'kept in'} the"
            f" candidates ({policy.decided_by}; re-buys are {share} of the train labels)."
        )
    if summary.candidate_recall:
        lines.append("Candidate recall on the test snapshot (share of next items proposed):")
        lines += [
            f"  {generator:<20}recall {recall:6.1%}   {per_user:7.1f} candidates/user"
            for _, generator, recall, per_user in summary.candidate_recall
        ]
    return "\n".join(lines)
