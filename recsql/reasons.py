"""A short human reason for each recommendation, from its largest positive feature contribution.

``attribution.contributions`` splits a row's score into per-feature parts along its decision
paths (a fast stand-in for TreeSHAP at millions of rows); the feature that pushed
the item up most picks a sentence, filled with the row's own values ("bought 3 times before",
"trending in Dairy", "similar to Alpenhof Greek Yoghurt 500g").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


def template_for(feature: str) -> str | None:
    """The sentence of the first template whose prefixes the feature's name starts with."""
    for prefixes, template in TEMPLATES:
        if feature.startswith(prefixes):
            return template
    return None


def quotable(features: Sequence[str]) -> list[int]:
    """Positions of the features some sentence can quote: only their contributions can make a
    reason, so only they need computing."""
    return [position for position, name in enumerate(features) if template_for(name)]


def explain(
    features: Sequence[str], contributions: np.ndarray, details: dict[str, pa.Array]
) -> pa.Array:
    """One reason per row: the feature with the largest positive contribution among those
    whose sentence the row's values can fill ("bought {times} times" needs times > 0, a
    category or brand sentence needs the value). ``contributions`` has a column per feature in
    ``features``' order (more after them are ignored), so a caller may pass ``quotable``
    features alone. Sentences are filled a template at a time, by Arrow, not a row at a time."""
    rows = len(contributions)
    values = {
        "times": pc.fill_null(
            pc.trunc(details["user_item_times_bought"].cast(pa.float64())).cast(pa.int64()), 0
        ),
        "category": details["category"].cast(pa.string()),
        "brand": details["brand"].cast(pa.string()),
        "similar": details["similar_to_title"].cast(pa.string()),
    }
    known = {
        "times": pc.not_equal(values["times"], 0),
        **{
            field: pc.fill_null(pc.not_equal(values[field], ""), False)
            for field in ("category", "brand", "similar")
        },
    }
    known = {field: mask.to_numpy(zero_copy_only=False) for field, mask in known.items()}
    templates = [template_for(name) for name in features]
    credits = np.array(contributions[:, : len(features)], dtype=np.float64)
    credits[credits <= 0] = -np.inf
    for position, template in enumerate(templates):
        if template is None:
            credits[:, position] = -np.inf
            continue
        for field in ("times", "category", "brand"):
            if "{" + field + "}" in template:
                credits[~known[field], position] = -np.inf
    best = credits.argmax(axis=1) if len(features) else np.zeros(rows, dtype=np.int64)
    found = np.isfinite(credits[np.arange(rows), best]) if len(features) else best > 0
    texts = np.full(rows, FALLBACK, dtype=object)
    for template in {templates[position] for position in np.unique(best[found])}:
        chosen = found & np.isin(best, [i for i, t in enumerate(templates) if t == template])
        texts[chosen] = _fill(template, values, known, chosen)
    return pa.array(texts, pa.string())


def _fill(
    template: str, values: dict[str, pa.Array], known: dict[str, np.ndarray], rows: np.ndarray
) -> np.ndarray:
    """The template filled with the chosen rows' values; a similar-item sentence without a
    title falls back to a general one."""
    prefix, _, rest = template.partition("{")
    field, _, suffix = rest.partition("}")
    if not field:
        return np.full(int(rows.sum()), template, dtype=object)
    picked = values[field].filter(pa.array(rows)).cast(pa.string())
    text = pc.binary_join_element_wise(prefix, picked, suffix, "")
    if field == "times":
        text = pc.replace_substring(text, "bought 1 times", "bought once")
    text = text.to_numpy(zero_copy_only=False)
    if field == "similar":
        text[~known["similar"][rows]] = "close to what you usually buy"
    return text
