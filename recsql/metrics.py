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
    return {name: float(values.mean()) for name, values in per_user(ranked, n_relevant, k).items()}


def per_user(ranked: Ranked, n_relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Recall, NDCG, MAP, MRR and HitRate at k of each user (the means' bootstrap needs them)."""
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
        "recall": n_hits / n_relevant,
        "ndcg": (hits @ discounts) / ideal,
        "map": (precision * hits).sum(axis=1) / np.minimum(n_relevant, k),
        "mrr": np.where(found, 1.0 / (first + 1), 0.0),
        "hit_rate": found.astype(np.float64),
    }


def bootstrap_means(values: np.ndarray, resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """Means of ``values`` (users x series) over resamples of the users with replacement.

    One (resamples x users) matrix of draw counts times the values: the same resampled users
    for every series, so paired differences between methods stay paired.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    n = values.shape[0]
    rng = np.random.default_rng(seed)
    means = np.empty((resamples, values.shape[1]))
    for start in range(0, resamples, 100):
        size = min(100, resamples - start)
        draws = rng.integers(0, n, size=(size, n))
        draws += np.arange(size)[:, None] * n
        counts = np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(float)
        means[start : start + size] = counts @ values / n
    return means


def confidence_interval(means: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap means, per series."""
    tail = (1.0 - level) / 2 * 100
    return np.percentile(means, tail, axis=0), np.percentile(means, 100 - tail, axis=0)


def p_not_better(candidate: np.ndarray, reference: np.ndarray, resamples: int = 1000) -> float:
    """Paired bootstrap: the share of user resamples in which ``candidate``'s mean does not
    exceed ``reference``'s (small = the candidate is reliably better)."""
    diffs = bootstrap_means(np.asarray(candidate) - np.asarray(reference), resamples)[:, 0]
    return float((diffs <= 0).mean())


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
    # summed in sorted order: the same value whatever order the rows came in from DuckDB
    return float(np.sort(-np.log2(share[shown.item])).mean())
