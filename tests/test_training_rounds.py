"""The rounds are chosen on the verdict's metric (NDCG@10), not on whichever cut-off stalls first."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from recsql import evaluation, training
from recsql.ranking_data import RankingData

PATIENCE = 10
ROUNDS = 200


def noisy_queries(seed: int, queries: int = 240, per_query: int = 30) -> RankingData:
    """Queries whose relevance a weak, noisy signal predicts: validation curves wander."""
    rng = np.random.default_rng(seed)
    rows = queries * per_query
    signal = rng.normal(size=rows)
    features = np.column_stack([signal + rng.normal(scale=2.0, size=rows),
                                rng.normal(size=(rows, 3))]).astype(np.float32)  # fmt: skip
    labels = (signal > 1.3).astype(np.int32)
    users = np.repeat(np.arange(queries), per_query).astype(str)
    snapshots = np.where(np.repeat(np.arange(queries), per_query) < queries * 2 // 3, "a", "train")
    return RankingData(features, labels, snapshots.astype(object), users.astype(object),
                       np.arange(rows).astype(str).astype(object))  # fmt: skip


def stop_round(curve: list[float], patience: int) -> int:
    """LightGBM's early stopping on one curve: the first best round before `patience` stalls."""
    best, best_round = -np.inf, 0
    for index, value in enumerate(curve):
        if value > best:
            best, best_round = value, index
        elif index - best_round >= patience:
            break
    return best_round + 1


def test_rounds_follow_ndcg_at_10_even_when_ndcg_at_5_stalls_first():
    features = ["f0", "f1", "f2", "f3"]
    params = {**training.DEFAULT_PARAMS, "min_data_in_leaf": 20, "seed": 3}
    for seed in range(20):  # a log where the cut-offs disagree about when to stop
        data = noisy_queries(seed)
        validation = data.snapshots == "train"
        curves: dict = {}
        train_set = training.dataset(data.subset(~validation), features, params)
        lgb.train(
            training.booster_params(params),
            train_set,
            num_boost_round=ROUNDS,
            valid_sets=[training.dataset(data.subset(validation), features, params, train_set)],
            callbacks=[lgb.record_evaluation(curves)],
        )
        by_ndcg10 = stop_round(curves["valid_0"][f"ndcg@{evaluation.VERDICT_K}"], PATIENCE)
        by_ndcg5 = stop_round(curves["valid_0"]["ndcg@5"], PATIENCE)
        if by_ndcg5 < by_ndcg10:
            break
    else:
        raise AssertionError("no generated log where NDCG@5 stalls before NDCG@10")

    chosen, capped = training._choose_rounds(
        data, validation, ~validation, features, params, ROUNDS, PATIENCE, show_progress=False
    )
    assert chosen == by_ndcg10
    assert by_ndcg10 + PATIENCE <= ROUNDS and not capped  # the curve turned well before the cap

    # allowed only as many rounds as the curve rose for: early stopping never saw it turn
    chosen, capped = training._choose_rounds(
        data, validation, ~validation, features, params, by_ndcg10, PATIENCE, show_progress=False
    )
    assert chosen == by_ndcg10 and capped
