"""A short human reason for each recommendation, from its largest positive feature contribution.

``attribution.contributions`` splits a row's score into per-feature parts along its decision
paths (a fast stand-in for TreeSHAP at millions of rows); the feature that pushed
the item up most picks a sentence, filled with the row's own values ("bought 3 times before",
"trending in Dairy", "similar to Alpenhof Greek Yoghurt 500g").
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pyarrow as pa

DETAIL_COLUMNS = ("user_item_times_bought", "category", "brand", "similar_to_title")

# (prefixes of the feature name, sentence); the first match wins
TEMPLATES: list[tuple[tuple[str, ...], str]] = [
    (
        (
            "user_item_times_bought",
            "user_item_recency_weight",
            "user_item_days_since",
            "gen_repurchase",
        ),
        "bought {times} times before",
    ),
    (("sim_", "gen_content"), "similar to {similar}"),
    (("gen_covisit",), "often bought together with your recent items"),
    (
        ("user_item_category_share", "gen_popular_category", "user_top_category"),
        "you often buy {category}",
    ),
    (("user_item_brand_share",), "a brand you buy: {brand}"),
    (
        (
            "item_events_7d",
            "item_events_30d",
            "item_trend",
            "item_users_30d",
            "gen_popular_recent",
            "item_days_since",
        ),
        "trending in {category}",
    ),
    (("item_events", "item_unique_users", "gen_popular_alltime"), "a best seller in {category}"),
    (("item_price", "user_item_price_ratio"), "in your usual price range"),
]
FALLBACK = "popular right now"


def row_details(
    con: duckdb.DuckDBPyConnection, users: np.ndarray, items: np.ndarray
) -> dict[str, list]:
    """The values reasons quote, for the given serve (user, item) rows, in their order."""
    pairs = pa.table(
        {
            "position": pa.array(np.arange(len(users))),
            "user_id": pa.array(users.tolist(), pa.string()),
            "item_id": pa.array(items.tolist(), pa.string()),
        }
    )
    con.register("reason_pairs", pairs)
    try:
        rows = con.execute(
            f"select {', '.join('candidates.' + c for c in DETAIL_COLUMNS)} from reason_pairs"
            " inner join fct_candidates as candidates on candidates.split = 'serve'"
            " and candidates.user_id = reason_pairs.user_id and candidates.item_id = reason_pairs.item_id"
            " order by reason_pairs.position"
        ).fetchall()
    finally:
        con.unregister("reason_pairs")
    return {name: [row[i] for row in rows] for i, name in enumerate(DETAIL_COLUMNS)}


def sentence_for(feature: str, detail: dict) -> str | None:
    for prefixes, template in TEMPLATES:
        if feature.startswith(prefixes):
            if "{times}" in template and not detail["times"]:
                return None
            if "{similar}" in template and not detail["similar"]:
                return "close to what you usually buy"
            if "{category}" in template and not detail["category"]:
                return None
            if "{brand}" in template and not detail["brand"]:
                return None
            text = template.format(**detail)
            return text.replace("bought 1 times", "bought once")
    return None


def explain(
    features: Sequence[str], contributions: np.ndarray, details: dict[str, list]
) -> list[str]:
    """One reason per row: the first feature, by contribution, that has a sentence."""
    credits = contributions[:, : len(features)]
    orders = np.argsort(-credits, axis=1)  # one sort for all rows, not one call per row
    texts = []
    for row, order in enumerate(orders):
        detail = {
            "times": int(details["user_item_times_bought"][row] or 0),
            "category": details["category"][row],
            "brand": details["brand"][row],
            "similar": details["similar_to_title"][row],
        }
        text = None
        for position in order:
            if credits[row, position] <= 0:
                break
            text = sentence_for(features[position], detail)
            if text:
                break
        texts.append(text or FALLBACK)
    return texts
