"""Per-row feature contributions of a LightGBM model along each row's decision paths.

A reason needs the feature that pushed a row's score most. TreeSHAP (``pred_contrib``) costs
about leaves x depth^2 per tree and row: minutes for the million rows of a large shop. Here
each tree's root-to-leaf path is credited instead (Saabas' method, as in treeinterpreter): at
every split, the change in the node's expected value goes to the split's feature. One table per
tree holds each leaf's credits, computed once from the model; a row's contributions are the sum
of the table rows its leaves pick (``pred_leaf``), one sparse product for all rows. Like
``pred_contrib``, the last column is the bias and each row sums to the raw score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
from scipy import sparse

CHUNK_ROWS = 20_000  # rows whose leaves are looked up at a time


def leaf_tables(booster: lgb.Booster, iterations: int) -> list[np.ndarray]:
    """Per tree, a (leaves x features + 1) array: each leaf's credit per feature, bias last."""
    width = booster.num_feature() + 1
    tables = []
    for tree in booster.dump_model(num_iteration=iterations)["tree_info"]:
        table = np.zeros((tree["num_leaves"], width))
        root = tree["tree_structure"]
        start = np.zeros(width)
        start[-1] = _value(root)
        stack: list[tuple[dict[str, Any], np.ndarray]] = [(root, start)]
        while stack:
            node, credit = stack.pop()
            if "split_feature" not in node:
                table[node.get("leaf_index", 0)] = credit
                continue
            for child in (node["left_child"], node["right_child"]):
                passed = credit.copy()
                passed[node["split_feature"]] += _value(child) - _value(node)
                stack.append((child, passed))
        tables.append(table)
    return tables


def contributions(
    booster: lgb.Booster,
    features: np.ndarray,
    tables: list[np.ndarray] | None = None,
    columns: Sequence[int] | None = None,
) -> np.ndarray:
    """(rows x features + 1) float32 contributions of the model's best iterations; rows sum to
    the raw score ``booster.predict(features, raw_score=True)`` (to float32 precision). Pass
    ``tables`` (``leaf_tables`` of the same iterations) when scoring in parts, to walk the
    trees once, and ``columns`` (positions, the bias being ``num_feature()``) for those
    columns alone: the product's cost grows with them. Rows go ``CHUNK_ROWS`` at a time:
    ``pred_leaf`` answers in float64, one number per row and tree, and small chunks reuse the
    same memory."""
    iterations = best_iterations(booster)
    if tables is None:
        tables = leaf_tables(booster, iterations)
    credits = np.vstack(tables).astype(np.float32)
    if columns is not None:
        credits = np.ascontiguousarray(credits[:, list(columns)])
    offsets = np.cumsum([0] + [len(table) for table in tables[:-1]], dtype=np.int32)
    out = np.empty((len(features), credits.shape[1]), dtype=np.float32)
    for start in range(0, len(features), CHUNK_ROWS):
        rows = features[start : start + CHUNK_ROWS]
        leaves = booster.predict(rows, pred_leaf=True, num_iteration=iterations)
        leaves = np.asarray(leaves, dtype=np.int32).reshape(len(rows), -1)
        trees = leaves.shape[1]
        picked = (leaves + offsets).ravel()
        # (rows x all trees' leaves, a 1 at each picked leaf) @ (all leaves x credits), with
        # int32 indices and float32 values (scipy would copy int64 indices down)
        paths = sparse.csr_matrix(
            (np.ones(len(picked), np.float32), picked, np.arange(0, len(picked) + 1, trees)),
            shape=(len(rows), len(credits)),
        )
        out[start : start + len(rows)] = paths @ credits
    return out


def best_iterations(booster: lgb.Booster) -> int:
    return booster.best_iteration or booster.current_iteration()


def _value(node: dict[str, Any]) -> float:
    return node["internal_value"] if "split_feature" in node else node["leaf_value"]
