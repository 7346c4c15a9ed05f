"""Reasons pick the strongest positive feature whose sentence the row's own values can fill."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from recsql.reasons import FALLBACK, explain, quotable

FEATURES = ["user_item_times_bought", "item_brand_x", "user_item_brand_share", "sim_profile"]


def details(times, brand, similar) -> dict[str, pa.Array]:
    return {
        "user_item_times_bought": pa.array(times, pa.int64()),
        "category": pa.array([None] * len(times), pa.string()),
        "brand": pa.array(brand, pa.string()),
        "similar_to_title": pa.array(similar, pa.string()),
    }


def test_the_strongest_fillable_feature_speaks_and_the_rest_fall_back() -> None:
    credits = np.array(
        [
            [3.0, 0.0, 1.0, 0.5, 9.9],  # bought before: its own sentence, once
            [3.0, 0.0, 1.0, 0.5, 9.9],  # never bought: the brand sentence is next
            [0.0, 5.0, -1.0, 2.0, 9.9],  # no sentence for item_brand_x; similar, no title
            [-1.0, 0.0, -2.0, -0.1, 9.9],  # nothing positive (the bias column never counts)
            [0.0, 0.0, 4.0, 1.0, 0.0],  # brand sentence, but the brand is unknown
        ],
        dtype=np.float32,
    )
    values = details(
        [1, 0, 2, 3, None],
        ["Acme", "Acme", None, "Acme", ""],
        ["Oat Milk", "Oat Milk", None, "Oat Milk", "Oat Milk"],
    )
    texts = explain(FEATURES, credits, values)
    # the quotable features' columns alone give the same reasons
    assert quotable(FEATURES) == [0, 2, 3]  # item_brand_x has no sentence
    quoted = quotable(FEATURES)
    alone = explain([FEATURES[i] for i in quoted], credits[:, quoted], values)
    assert alone.to_pylist() == texts.to_pylist()
    assert texts.to_pylist() == [
        "bought once before",
        "a brand you buy: Acme",
        "close to what you usually buy",
        FALLBACK,
        "similar to Oat Milk",
    ]
    assert explain(FEATURES, credits[:0], details([], [], [])).to_pylist() == []
