"""Offline ranking metrics (pure numpy, vectorised over the shown rows).

Relevance is binary for every metric here (an item is relevant if it is among the user's labels);
NDCG uses binary gains. Users are indexed 0..n-1 by the caller; a user with no shown rows counts
as a miss (all zeros), never drops out. ``k`` cuts each list at ranks 0..k-1.

- Recall@K = hits in the top K / |relevant|; MAP@K divides by min(|relevant|, K).
- Coverage@K = distinct items shown in the top K / catalog size.
- Novelty@K = mean over shown (user, item) pairs of -log2 of the item's share of events before the
  cutoff, add-one smoothed over the catalog (an item nobody touched has finite, high novelty).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

KS: tuple[int, ...] = (5, 10, 20)


@dataclass
class Ranked:
    """Shown rows of one method: user index, 0-based rank, item index, whether it is relevant."""

    user: np.ndarray
    rank: np.ndarray
    item: np.ndarray
    hit: np.ndarray

    def top(self, k: int) -> Ranked:
        keep = np.asarray(self.rank) < k
        return Ranked(self.user[keep], self.rank[keep], self.item[keep], self.hit[keep])


def ranking_metrics(ranked: Ranked, n_relevant: np.ndarray, k: int) -> dict[str, float]:
    """Mean Recall, NDCG, MAP, MRR and HitRate at k over all users (binary relevance)."""
    n_relevant = np.asarray(n_relevant, dtype=np.float64)
    if (n_relevant <= 0).any():
        raise ValueError("every evaluated user needs at least one relevant item")
    n_users = len(n_relevant)
    shown = ranked.top(k)
    hits = np.zeros((n_users, k), dtype=bool)
    hits[shown.user, shown.rank] = shown.hit
    n_hits = hits.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(k) + 2.0)
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k).astype(int) - 1]
    precision = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    first = hits.argmax(axis=1)
    found = hits.any(axis=1)
    return {
        "recall": float((n_hits / n_relevant).mean()),
        "ndcg": float(((hits @ discounts) / ideal).mean()),
        "map": float(((precision * hits).sum(axis=1) / np.minimum(n_relevant, k)).mean()),
        "mrr": float(np.where(found, 1.0 / (first + 1), 0.0).mean()),
        "hit_rate": float(found.mean()),
    }


def coverage(ranked: Ranked, catalog_size: int, k: int) -> float:
    """Distinct items shown in the top k / items in the catalog."""
    if not catalog_size:
        return 0.0
    return len(np.unique(ranked.top(k).item)) / catalog_size


def novelty(ranked: Ranked, events: np.ndarray, k: int) -> float:
    """Mean -log2(add-one smoothed event share) of the items shown in the top k."""
    shown = ranked.top(k)
    if len(shown.item) == 0:
        return 0.0
    events = np.asarray(events, dtype=np.float64)
    share = (events + 1.0) / (events.sum() + len(events))
    return float(-np.log2(share[shown.item]).mean())


def all_metrics(
    ranked: Ranked, n_relevant: np.ndarray, catalog_size: int, item_events: np.ndarray
) -> Iterator[tuple[str, int, float]]:
    """Every metric at every k in ``KS``: ``(metric, k, value)``."""
    for k in KS:
        for metric, value in ranking_metrics(ranked, n_relevant, k).items():
            yield metric, k, value
        yield "coverage", k, coverage(ranked, catalog_size, k)
        yield "novelty", k, novelty(ranked, item_events, k)
