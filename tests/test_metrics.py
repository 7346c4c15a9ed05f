"""Ranking metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recsql.metrics import Ranked, coverage, novelty, ranking_metrics


def ranked(rows: list[tuple[int, int, int, bool]]) -> Ranked:
    user, rank, item, hit = (np.array(column) for column in zip(*rows, strict=True))
    return Ranked(user=user, rank=rank, item=item, hit=hit.astype(bool))


def test_two_users_by_hand() -> None:
    # user 0: 2 relevant items, hits at ranks 0 and 2; user 1: 1 relevant item, hit at rank 1
    shown = ranked(
        [(0, 0, 10, True), (0, 1, 11, False), (0, 2, 12, True), (1, 0, 10, False), (1, 1, 13, True)]
    )
    m = ranking_metrics(shown, np.array([2, 1]), k=5)
    assert m["recall"] == pytest.approx((2 / 2 + 1 / 1) / 2)
    ndcg_0 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))  # hits at 1 and 3, ideal at 1 and 2
    ndcg_1 = (1 / math.log2(3)) / 1  # hit at rank 2, ideal at rank 1
    assert m["ndcg"] == pytest.approx((ndcg_0 + ndcg_1) / 2)
    map_0 = (1 / 1 + 2 / 3) / 2  # precision at each hit, over min(2, 5)
    map_1 = (1 / 2) / 1
    assert m["map"] == pytest.approx((map_0 + map_1) / 2)
    assert m["mrr"] == pytest.approx((1 / 1 + 1 / 2) / 2)
    assert m["hit_rate"] == 1.0


def test_cut_at_k_and_users_without_recommendations_count_as_misses() -> None:
    shown = ranked([(0, 0, 1, False), (0, 1, 2, True)])
    m = ranking_metrics(shown, np.array([1, 3]), k=1)  # user 1 got nothing at all
    assert m == {"recall": 0.0, "ndcg": 0.0, "map": 0.0, "mrr": 0.0, "hit_rate": 0.0}
    m = ranking_metrics(shown, np.array([1, 3]), k=2)
    assert m["recall"] == pytest.approx((1 + 0) / 2)
    assert m["hit_rate"] == pytest.approx(0.5)


def test_perfect_ranking_scores_one() -> None:
    shown = ranked([(0, 0, 1, True), (0, 1, 2, True)])
    m = ranking_metrics(shown, np.array([2]), k=5)
    assert m["ndcg"] == pytest.approx(1.0) and m["map"] == pytest.approx(1.0)


def test_coverage_and_novelty() -> None:
    shown = ranked([(0, 0, 0, False), (1, 0, 0, False), (1, 1, 1, True)])
    assert coverage(shown, catalog_size=4, k=2) == pytest.approx(2 / 4)
    events = np.array([6, 0, 1])  # smoothed: 7, 1, 2 of 10
    expected = np.mean([-math.log2(0.7), -math.log2(0.7), -math.log2(0.1)])
    assert novelty(shown, events, k=2) == pytest.approx(expected)


def test_a_user_without_relevant_items_is_refused() -> None:
    with pytest.raises(ValueError):
        ranking_metrics(ranked([(0, 0, 1, False)]), np.array([0]), k=5)


def test_novelty_is_the_same_whatever_order_the_rows_come_in() -> None:
    """Rows come from a parallel DuckDB join in no fixed order; model_metrics must not change
    from run to run in its last digits."""
    rng = np.random.default_rng(4)
    n = 100_000
    shown = Ranked(user=np.arange(n) // 20, rank=np.arange(n) % 20,
                   item=rng.integers(0, 50_000, n), hit=np.zeros(n, dtype=bool))  # fmt: skip
    events = rng.integers(0, 10**6, 50_000)
    expected = novelty(shown, events, k=10)
    for _ in range(20):
        order = rng.permutation(n)
        shuffled = Ranked(shown.user[order], shown.rank[order], shown.item[order], shown.hit[order])
        assert novelty(shuffled, events, k=10) == expected
