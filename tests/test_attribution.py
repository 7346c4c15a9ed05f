"""Path contributions of a real LightGBM model: they add up to its score and credit the
feature that decides."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from recsql.attribution import contributions


def test_contributions_sum_to_the_raw_score_and_credit_the_deciding_feature() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(3000, 4)).astype(np.float32)
    features[rng.random(features.shape) < 0.05] = np.nan  # missing values take their branch too
    target = 3 * np.nan_to_num(features[:, 2]) + 0.1 * rng.normal(size=3000)
    booster = lgb.train(
        {"objective": "regression", "num_leaves": 15, "verbosity": -1, "seed": 1},
        lgb.Dataset(features, target),
        num_boost_round=40,
    )
    parts = contributions(booster, features)
    assert parts.shape == (3000, 5)
    np.testing.assert_allclose(
        parts.sum(axis=1), booster.predict(features, raw_score=True), rtol=1e-5, atol=1e-5
    )
    decided = np.abs(parts[:, :4]).argmax(axis=1)
    assert (decided[~np.isnan(features[:, 2])] == 2).mean() > 0.95
    assert contributions(booster, features[:0]).shape == (0, 5)
    # some columns alone (the bias is the last position): the same numbers, fewer columns
    np.testing.assert_array_equal(
        contributions(booster, features, columns=[2, 4]), parts[:, [2, 4]]
    )
