"""The recommenders a practitioner tries first, written once for every quality benchmark.

Each peer learns from a users x items count matrix of the events before a cutoff and returns
each requested user's top-n item columns. Parameters are tuned by the caller on a validation
window before the cutoff, never on the test window. ``exclude`` (a users x items matrix of what
each user already had) removes those items from the lists when the truth leaves them out.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

USER_BATCH = 1024


@dataclass
class History:
    """What the peers learn from: counts per (user, item) and each event's age at the cutoff."""

    counts: sparse.csr_matrix  # users x items, events before the cutoff
    recent: sparse.csr_matrix  # users x items, events in the last `recent_days` before it
    last_seen_days: sparse.csr_matrix  # users x items, 1 + days since the user last had it

    @property
    def binary(self) -> sparse.csr_matrix:
        matrix = self.counts.copy()
        matrix.data[:] = 1.0
        return matrix


def top_n(scores: np.ndarray, n: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Columns of each row's n best scores, best first (ties by column)."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None:
        scores[exclude] = -np.inf
    n = min(n, scores.shape[1])
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    values = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -values), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _batched(
    users: np.ndarray,
    n: int,
    score_rows: Callable[[np.ndarray], np.ndarray],
    exclude: sparse.csr_matrix | None,
) -> np.ndarray:
    lists = []
    for start in range(0, len(users), USER_BATCH):
        batch = users[start : start + USER_BATCH]
        seen = exclude[batch].toarray() > 0 if exclude is not None else None
        lists.append(top_n(score_rows(batch), n, seen))
    return np.vstack(lists) if lists else np.zeros((0, n), dtype=np.int64)


def popularity(
    history: History, users: np.ndarray, n: int, exclude=None, *, recent: bool = False
) -> np.ndarray:
    """Everyone gets the items with most events (all time, or in the recent window)."""
    matrix = history.recent if recent else history.counts
    totals = (
        np.asarray(matrix.sum(axis=0)).ravel()
        + 1e-9 * np.asarray(history.counts.sum(axis=0)).ravel()
    )
    return _batched(users, n, lambda batch: np.tile(totals, (len(batch), 1)), exclude)


def repurchase_then_popularity(
    history: History, users: np.ndarray, n: int, exclude=None
) -> np.ndarray:
    """The user's own items by how often they had them (then how recently), then the
    recently popular items."""
    popular = np.asarray(history.recent.sum(axis=0)).ravel()
    popular = popular / (popular.max() + 1.0)

    def score(batch: np.ndarray) -> np.ndarray:
        own = history.counts[batch].toarray()
        recency = history.last_seen_days[batch].toarray()
        fresh = np.where(recency > 0, 1.0 / (1.0 + recency), 0.0)
        return np.where(own > 0, 10.0 + own + fresh, 0.0) + popular

    return _batched(users, n, score, exclude)


def item_knn(
    history: History, users: np.ndarray, n: int, exclude=None, *, neighbours: int = 100
) -> np.ndarray:
    """Item-kNN: cosine over who bought what (binary; the ``implicit`` package's
    CosineRecommender), each item keeping its ``neighbours`` most similar items; a user's score
    sums the similarities weighted by how often they bought each of their items. (Of binary or
    count inputs on either side, this scored best on the validation window.)"""
    from implicit.nearest_neighbours import CosineRecommender

    model = CosineRecommender(K=neighbours, num_threads=2)
    counts = sparse.csr_matrix(history.counts, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # implicit converts its own coo similarity to csr
        model.fit(sparse.csr_matrix(history.binary, dtype=np.float32), show_progress=False)
    similarity = sparse.csr_matrix(model.similarity)
    return _batched(
        users, n, lambda batch: np.asarray((counts[batch] @ similarity).todense()), exclude
    )


class Ease:
    """EASE (Steck 2019) on the ``max_items`` items with most users; other items score 0."""

    def __init__(self, history: History, max_items: int) -> None:
        binary = history.binary
        users_per_item = np.asarray(binary.sum(axis=0)).ravel()
        self.items = np.sort(np.argsort(-users_per_item, kind="stable")[:max_items])
        self.matrix = sparse.csr_matrix(binary[:, self.items], dtype=np.float64)
        self.gram = (self.matrix.T @ self.matrix).toarray()
        self.n_items = binary.shape[1]
        self._weights: dict[float, np.ndarray] = {}

    def weights(self, regularisation: float) -> np.ndarray:
        if regularisation not in self._weights:
            gram = self.gram.copy()
            gram[np.diag_indices_from(gram)] += regularisation
            precision = np.linalg.inv(gram)
            weights = -precision / np.diag(precision)
            weights[np.diag_indices_from(weights)] = 0.0
            self._weights = {regularisation: weights}
        return self._weights[regularisation]

    def recommend(self, users: np.ndarray, n: int, regularisation: float, exclude=None):
        weights = self.weights(regularisation)

        def score(batch: np.ndarray) -> np.ndarray:
            full = np.full((len(batch), self.n_items), -1e9)
            full[:, self.items] = self.matrix[batch] @ weights
            return full

        return _batched(users, n, score, exclude)


def als(
    history: History,
    users: np.ndarray,
    n: int,
    exclude=None,
    *,
    factors: int = 64,
    regularization: float = 0.05,
    alpha: float = 1.0,
    iterations: int = 15,
    seed: int = 0,
) -> np.ndarray:
    """Implicit-feedback ALS (the ``implicit`` package), confidence 1 + alpha x count."""

    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        # implicit runs its own threads: BLAS threads inside them oversubscribe the cores
        warnings.simplefilter("ignore")
        return _als(history, users, n, exclude, factors, regularization, alpha, iterations, seed)


def _als(history, users, n, exclude, factors, regularization, alpha, iterations, seed):
    from implicit.cpu.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(
        factors=factors,
        regularization=regularization,
        alpha=alpha,
        iterations=iterations,
        random_state=seed,
        num_threads=2,
    )
    counts = sparse.csr_matrix(history.counts, dtype=np.float32)
    model.fit(counts, show_progress=False)
    user_factors = np.asarray(model.user_factors)
    item_factors = np.asarray(model.item_factors)
    return _batched(users, n, lambda batch: user_factors[batch] @ item_factors.T, exclude)
