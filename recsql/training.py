"""Fit a LightGBM ranker on fct_candidates and measure it end-to-end.

Rows go from DuckDB to LightGBM through Arrow, sorted by query (snapshot, user); the group
sizes are the run lengths of the queries in exactly that row order. The number of rounds is
chosen by NDCG@10 on the latest train snapshot (a time-later window, not a random share of
users; at most ``VALIDATION_QUERIES`` of its users, each with their whole list); groups
without a positive are left out of training (DuckDB drops them before the rows reach Python),
because LightGBM scores them NDCG 1. The test snapshot is ranked by a refit on
every train snapshot and by the baselines, over every test user with labels (see
``evaluation``); the saved model is refit once more with the test window. The fits learn from
every positive and at most ``negatives_per_query`` negatives of each query, drawn at random: a
round costs time in proportion to rows (50 of a 0.5M-event demo's ~165 candidates per query
took `recsql train` from 680 s to 310 s at the same test NDCG@10); past ``max_learning_rows``
rows they learn from a random share of whole queries, so a fit's time stops growing with the
log. The rows that choose the rounds and those that judge the ranker stay complete.
"""

from __future__ import annotations

import hashlib
import os
import platform
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from recsql import evaluation, model_files, paths, progress, warehouse
from recsql.ranking_data import (
    RankingData,
    TrainingError,
    group_sizes_in_row_order,
    load_keys,
    load_split,
    predict_split,
)

LATEST_TRAIN_SNAPSHOT = "train"  # int_snapshots: its label window ends at the test cutoff
NEGATIVES_PER_QUERY = 50  # negatives a fit learns from per query (every positive stays)
# rows a fit learns from, at most: past it a fit learns from a random share of whole queries.
# A round costs time in proportion to rows and runs in three fits; more queries of the same
# shop stopped paying before this (2M-event demo, 10.0M train rows: 1.5M learning rows ranked
# the test snapshot 0.6540 [0.6504, 0.6574] in 238 s, 4.0M 0.6545 in 513 s, all 5.0M 0.6546
# [0.6511, 0.6581] in 751 s, an earlier run)
MAX_LEARNING_ROWS = 2_000_000
# rounds without gain before the choice stops: at learning_rate 0.03 the validation NDCG drifts
# slowly, and 50 stopped some seeds at 76 rounds where 100 found 377-426 (Complete Journey,
# re-buys, test snapshot 1.122 -> 1.126 x repurchase over 3 seeds)
EARLY_STOPPING = 100
# queries (users of the held-out snapshot) whose whole lists choose the rounds, at most: the
# held-out snapshot was 65 % of the rows `recsql train` read at 1M events and its NDCG each
# round 45 % of the time spent choosing; over 10,000 queries the mean NDCG@10 has a standard
# error near 0.3 / 100 = 0.003, and every round is judged on the same users
VALIDATION_QUERIES = 10_000

CATEGORICAL = "categorical_feature"  # in params: positions of the categorical features, "3,7"
DEFAULT_PARAMS: dict[str, Any] = {
    # pointwise log-loss, judged by NDCG@10 per query: on The Complete Journey (own items
    # excluded, 3 seeds) it ranked the test snapshot 1.11x the best baseline where lambdarank
    # reached 1.04x; `recsql train --objective lambdarank` keeps the listwise one
    "objective": "binary",
    "metric": "ndcg",
    "eval_at": [5, 10, 20],
    # small, slow and regularised: a real log gives few positives per query and noisy ones.
    # 0.06 took half the rounds (2M-event demo: train 421 s against 804, the same NDCG@10) but
    # ranked The Complete Journey's new products lower (own items excluded, 5 seeds each: full
    # set 1.090x EASE against 1.114x, ~300 households 1.038x against 1.116x; re-buys the same)
    "learning_rate": 0.03,
    "num_leaves": 31,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambdarank_truncation_level": 20,  # read by --objective lambdarank only
    "deterministic": True,
    # row-wise histograms: the same trees as col-wise, 0.28 s a round against 0.32 on 2.5M rows
    # of a 1M-event log (2 threads); the binned dataset takes about twice the memory
    "force_row_wise": True,
    "num_threads": max(1, min(2, os.cpu_count() or 1)),
    "verbosity": -1,
}


@dataclass
class TrainResult:
    model_version: str
    model_dir: Path
    best_iteration: int
    train_rows: int
    train_users: int
    positives: int
    metrics: list[evaluation.MetricRow] = field(default_factory=list)
    verdict: evaluation.Verdict | None = None
    rounds_capped: bool = False  # the held-out NDCG@10 still rose near the last round allowed
    learning_rows: int = 0  # train rows the fits learned from
    query_share: float = 1.0  # share of the queries they were drawn from (max_learning_rows)


def stable_hash(text: str) -> int:
    """A 32-bit hash of ``text`` that every run and machine agrees on (Python's ``hash`` does not)."""
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:4], "big")


def is_validation_user(users: np.ndarray, seed: int, fraction: float) -> np.ndarray:
    """A stable pseudo-random choice of users (by hash of seed and id), not of rows."""
    buckets = {
        user: stable_hash(f"{seed}:{user}") % 10_000
        for user in dict.fromkeys(users.tolist())  # not np.unique: a sort of Python strings
    }
    threshold = fraction * 10_000
    return np.fromiter((buckets[user] < threshold for user in users), dtype=bool, count=len(users))


def query_count(data: RankingData, mask: np.ndarray) -> int:
    """Queries (snapshot, user) among the rows in ``mask``."""
    return len(group_sizes_in_row_order(data.snapshots[mask], data.users[mask]))


def in_positive_groups(data: RankingData) -> np.ndarray:
    """Rows whose query (snapshot, user) has at least one positive label."""
    sizes = group_sizes_in_row_order(data.snapshots, data.users)
    positives = (
        np.add.reduceat(data.labels > 0, np.r_[0, np.cumsum(sizes)[:-1]]) if len(sizes) else sizes
    )
    return np.repeat(positives > 0, sizes)


def learning_rows(
    data: RankingData,
    negatives_per_query: int | None,
    seed: int,
    first_draw: int = 0,
    among: np.ndarray | None = None,
) -> np.ndarray:
    """Every positive row, and at most ``negatives_per_query`` negatives of each query (snapshot,
    user), drawn uniformly by ``seed``, so in expectation each generator keeps its share. None
    keeps every row. ``first_draw``: random numbers of ``seed`` already used by other rows
    (rows drawn in two goes get the choice one go over both would make). ``among``: only these
    rows (whole queries) are chosen from, and they alone use random numbers, as if the others
    were not there: the choice over a subset of ``data`` without a copy of it."""
    positive = data.labels > 0
    if negatives_per_query is None:
        return np.ones(len(data.labels), dtype=bool) if among is None else among.copy()
    sizes = group_sizes_in_row_order(data.snapshots, data.users)
    query = np.repeat(np.arange(len(sizes)), sizes)
    generator = np.random.default_rng(seed)
    generator.bit_generator.advance(first_draw)  # skips the numbers earlier rows used, unmade
    if among is None:
        draw = generator.random(len(data.labels))
    else:
        draw = np.full(len(data.labels), np.inf)  # rows not drawn from sort last in their query
        draw[among] = generator.random(int(among.sum()))
    order = np.lexsort((draw, positive, query))  # per query: negatives first, in random order
    del draw
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order)) - starts  # place of each row within its query
    chosen = positive | (position < negatives_per_query)
    return chosen if among is None else chosen & among


def query_share(learning: int, max_rows: int | None) -> float:
    """The share of queries a fit keeps so that it learns from about ``max_rows`` rows."""
    return 1.0 if max_rows is None or learning <= max_rows else max_rows / learning


def in_sampled_queries(data: RankingData, share: float, seed: int) -> np.ndarray:
    """Rows of a stable pseudo-random ``share`` of the queries (snapshot, user): each query is
    kept or left whole, by a hash of seed, snapshot and user, so a query is chosen the same way
    whichever split or row order it comes in."""
    if share >= 1:
        return np.ones(len(data.labels), dtype=bool)
    sizes = group_sizes_in_row_order(data.snapshots, data.users)
    starts = np.cumsum(sizes) - sizes
    draws = np.fromiter(
        (
            stable_hash(f"{seed}:{snapshot}:{user}")
            for snapshot, user in zip(data.snapshots[starts], data.users[starts], strict=True)
        ),
        dtype=np.float64,
        count=len(sizes),
    )
    return np.repeat(draws < share * 2**32, sizes)


def dataset(
    data: RankingData | Sequence[RankingData],
    features: Sequence[str],
    params: dict[str, Any],
    reference: lgb.Dataset | None = None,
) -> lgb.Dataset:
    """A binned LightGBM dataset of one or several row sets (one after another, each grouped by
    query); the float rows are released once binned.

    Several sets go to LightGBM as they are (its list of matrices): gathering them into one
    matrix first held every float twice, training's peak at 1M events (2,925 MiB).
    Binned here, not inside ``lgb.train``, so it must get the training parameters itself
    (max_bin, min_data_in_leaf, seeds...): without them LightGBM bins with its defaults.
    """
    parts = [data] if isinstance(data, RankingData) else list(data)
    categorical = params.get(CATEGORICAL)  # LightGBM takes it from the constructor only
    built = lgb.Dataset(
        parts[0].features if len(parts) == 1 else [part.features for part in parts],
        label=np.concatenate([part.labels for part in parts]),
        group=np.concatenate(
            [group_sizes_in_row_order(part.snapshots, part.users) for part in parts]
        ),
        feature_name=list(features),
        categorical_feature=[int(i) for i in categorical.split(",")] if categorical else "auto",
        reference=reference,
        params=booster_params(params),
        free_raw_data=True,
    )
    return built.construct()


def leaf_size(rows: int) -> int:
    """Rows a leaf needs: 200 from 100k training rows up, fewer on a small log (at least 20),
    so a leaf stands for many users' behaviour, not a few lucky positives."""
    return min(200, max(20, rows // 500))


def booster_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters as LightGBM takes them: the categorical positions went to the dataset."""
    return {name: value for name, value in params.items() if name != CATEGORICAL}


def validation_rows(data: RankingData, seed: int, fraction: float) -> tuple[np.ndarray, str]:
    """Rows that choose the number of rounds, and how they were chosen.

    With several train snapshots, the latest one (`train`: its window ends at the test cutoff)
    is held out, so rounds are chosen on a time-later window, as the model will be used. With
    one, a stable hash of ~``fraction`` of its users is held out instead.
    """
    names = set(data.snapshots.tolist())  # not np.unique: a sort of Python strings (10.6 s at 5M)
    if len(names) > 1 and LATEST_TRAIN_SNAPSHOT in names:
        return data.snapshots == LATEST_TRAIN_SNAPSHOT, f"snapshot {LATEST_TRAIN_SNAPSHOT!r}"
    return is_validation_user(data.users, seed, fraction), f"{fraction:.0%} of users"


def judged_rows(data: RankingData, held_out: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
    """The held-out rows that judge each round: every one of at most ``VALIDATION_QUERIES``
    users (a stable hash of seed and id), each with their whole list."""
    held_out_users = data.users[held_out]
    users = len(set(held_out_users.tolist()))  # not np.unique: a sort of Python strings
    if users <= VALIDATION_QUERIES:
        return held_out, ""
    share = VALIDATION_QUERIES / users
    judged = held_out.copy()
    judged[held_out] = is_validation_user(held_out_users, seed, share)
    return judged, f", {share:.0%} of its users"


def train_ranker(
    db: Path,
    *,
    params: dict[str, Any] | None = None,
    rounds: int = 500,
    early_stopping: int = EARLY_STOPPING,
    validation_fraction: float = 0.15,
    negatives_per_query: int | None = NEGATIVES_PER_QUERY,
    max_learning_rows: int | None = MAX_LEARNING_ROWS,
    seed: int = 42,
    show_progress: bool = True,
) -> TrainResult:
    """Choose the rounds on a time-later window, measure, then refit for serving.

    1. fit on the older train snapshots, early stopping on the latest (``validation_rows``);
    2. refit on every train snapshot with those rounds and rank the test snapshot end-to-end,
       against every baseline, with bootstrap intervals and a verdict;
    3. refit on every labelled snapshot, test included, with the same rounds: the saved model,
       which has seen the most recent window before it scores ``serve``.
    """
    with warehouse.connect(db) as con:
        features = warehouse.ranker_features(con)
        categorical = [name for name in warehouse.categorical_features(con) if name in features]
        categories = warehouse.category_values(con, categorical)
        progress.note(f"reading the train split ({len(features)} features)", show_progress)
        rows, positives = con.execute(
            "select count(*), count(*) filter (where label_grade > 0) from fct_candidates"
            " where split = 'train'"
        ).fetchall()[0]
        if not rows:
            raise TrainingError(f"fct_candidates in {db} has no train rows: run dbt build first")
        if not positives:
            raise TrainingError(
                "no train user has a label among their candidates: nothing to learn"
            )
        # queries without a positive are left out (LightGBM scores them NDCG 1)
        keys = load_keys(con, "train", positive_queries_only=True)
        held_out, how = validation_rows(keys, seed, validation_fraction)
        if held_out.all() or not held_out.any():
            held_out = np.zeros(len(held_out), dtype=bool)
        validation, sampled = judged_rows(keys, held_out, seed)
        everyone = np.ones(len(keys.labels), dtype=bool)
        counts = {
            "train_rows": len(keys.labels),
            "train_users": len(set(keys.users.tolist())),  # not np.unique: 13.7 s at 5M
            "train_queries": query_count(keys, everyone),
            "positives": int((keys.labels > 0).sum()),
            "validation_queries": query_count(keys, validation),
            "validation": how + sampled if validation.any() else "none",
        }
        progress.note(
            f"{counts['train_rows']:,} rows, {counts['train_queries']:,} queries (snapshot, user)"
            f" with a positive; rounds chosen on {counts['validation']}"
            f" ({counts['validation_queries']:,} queries)",
            show_progress,
        )
        merged = {
            **DEFAULT_PARAMS,
            "min_data_in_leaf": leaf_size(counts["train_rows"]),
            **(params or {}),
            "seed": seed,
        }
        if categorical:  # by position: LightGBM reads the matrix before it knows the names
            merged[CATEGORICAL] = ",".join(str(features.index(c)) for c in categorical)
        learn = learning_rows(keys, negatives_per_query, seed)
        share = query_share(int(learn.sum()), max_learning_rows)
        learn &= in_sampled_queries(keys, share, seed)
        counts["learning_rows"] = int(learn.sum())
        if share < 1:
            progress.note(
                f"each fit learns from {share:.0%} of the queries, drawn at random"
                f" ({counts['learning_rows']:,} rows; --max-learning-rows {max_learning_rows:,})",
                show_progress,
            )
        counts["negatives_per_query"] = negatives_per_query
        counts["max_learning_rows"] = max_learning_rows
        counts["query_share"] = round(share, 6)
        # only the rows some fit learns from or validates on become floats
        needed = learn | validation
        train = load_split(
            con,
            "train",
            features,
            categories=categories,
            positive_queries_only=True,
            keep=needed,
            keys=keys,
        )
        del keys  # every train row's ids (360 MB at 10M rows): the loaded rows carry their own
        best_iteration, rounds_capped = _choose_rounds(
            train,
            validation[needed],
            (learn & ~held_out)[needed],
            features,
            merged,
            rounds,
            early_stopping,
            show_progress,
        )
        progress.note(
            f"best iteration {best_iteration}; refitting on every train snapshot", show_progress
        )
        train = train.subset(learn[needed])  # what the two refits learn from train
        evaluated = _fit(dataset(train, features, merged), merged, best_iteration)
        progress.note("ranking the test snapshot: the ranker and every baseline", show_progress)
        test, scores = predict_split(con, evaluated, "test", features, categories)
        evaluation_result = evaluation.evaluate_test_snapshot(con, test, scores)
        del evaluated, scores
        positive = in_positive_groups(test)
        progress.note(
            f"refitting on every labelled snapshot, test included (+{int(positive.sum()):,} rows)",
            show_progress,
        )
        # the refit learns from train's ``learn`` rows and the test queries with a positive,
        # drawn as if one log with train: test's draws follow train's, the same share of queries
        test_rows = learning_rows(
            test, negatives_per_query, seed, first_draw=counts["train_rows"], among=positive
        ) & in_sampled_queries(test, share, seed)
        test = load_split(con, "test", features, categories=categories, keep=test_rows, keys=test)
        # binned from both row sets as they are, which then go: the floats do not sit beside
        # the fit
        final_set = dataset([train, test], features, merged)
        del train, test
        final = _fit(final_set, merged, best_iteration)
        del final_set

        snapshots = warehouse.snapshot_cutoffs(con)
        version = _model_version(final)
        verdict = evaluation_result.verdict
        metadata = {
            "model_version": version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "features": list(features),
            "feature_hash": feature_hash(features),
            "categories": categories,  # categorical feature -> its values; code = position
            "params": merged,
            "best_iteration": best_iteration,
            "rounds": rounds,
            "rounds_capped": rounds_capped,
            "seed": seed,
            "train_snapshots": {
                name: cut for name, (split, cut) in snapshots.items() if split == "train"
            },
            "test_cutoff": next(
                (cut for split, cut in snapshots.values() if split == "test"), None
            ),
            "fitted_on": "every labelled snapshot (train and test), rounds chosen above",
            "evaluated_as": "the same recipe fitted on the train snapshots only",
            "verdict": verdict.as_dict() if verdict else None,
            "serve_method": verdict.serve_method if verdict else evaluation.RANKER,
            **counts,
            "versions": library_versions(),
        }
        model_dir = save_model(final, metadata, paths.models_dir() / version)
        result = TrainResult(
            version,
            model_dir,
            best_iteration,
            metadata["train_rows"],
            metadata["train_users"],
            metadata["positives"],
            verdict=verdict,
            rounds_capped=rounds_capped,
            learning_rows=counts["learning_rows"],
            query_share=share,
        )
        result.metrics = evaluation_result.rows_for(version)
        warehouse.register_model(con, metadata, model_dir, final, result.metrics)
    return result


def _choose_rounds(
    data: RankingData,
    validation: np.ndarray,
    fit: np.ndarray,
    features: Sequence[str],
    params: dict[str, Any],
    rounds: int,
    early_stopping: int,
    show_progress: bool,
) -> tuple[int, bool]:
    """Boosting rounds by early stopping on every validation row (all rounds without any); the
    fit learns from the ``fit`` rows (none of the held-out users' or snapshot's).

    Also whether ``rounds`` bound: the best round came less than ``early_stopping`` rounds
    before the last one allowed, so early stopping never saw the curve turn (at 2M demo
    events the best of 500 rounds was the 499th) and more rounds may rank better."""
    if not validation.any():
        return rounds, False
    train_set = dataset(data.subset(fit), features, params)
    valid_set = dataset(data.subset(validation), features, params, train_set)
    on_round = _progress_callback(rounds, show_progress)
    booster = lgb.train(
        rounds_params(params),
        train_set,
        num_boost_round=rounds,
        valid_sets=[valid_set],
        callbacks=[on_round, lgb.early_stopping(early_stopping, verbose=False)],
    )
    on_round.bar.close()
    best = max(1, booster.best_iteration or booster.current_iteration())
    return best, best > rounds - early_stopping


def rounds_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that choose the rounds: validation measures the verdict's metric only.

    With several cut-offs (``eval_at`` 5, 10, 20) LightGBM's early stopping halts when any of
    them stalls and keeps that one's best round: a noisy NDCG@5 peak at round 2 then decided a
    model judged, and compared with the baselines, on NDCG@10.
    """
    return {
        **booster_params(params),
        "metric": evaluation.VERDICT_METRIC,
        "eval_at": [evaluation.VERDICT_K],
    }


def _fit(data: lgb.Dataset, params: dict[str, Any], rounds: int) -> lgb.Booster:
    return lgb.train(booster_params(params), data, num_boost_round=rounds)


def feature_hash(features: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(features).encode()).hexdigest()[:16]


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {
        "python": platform.python_version(),
        **{name: version(name) for name in ("lightgbm", "duckdb", "numpy", "pyarrow", "recsql")},
    }


def save_model(booster: lgb.Booster, metadata: dict, target: Path) -> Path:
    """Write model.txt (its sha256 into ``metadata``) and metadata.json atomically; removes
    the temp folders of killed trains. See ``model_files.save_model``."""
    return model_files.save_model(booster, metadata, target)


def _model_version(booster: lgb.Booster) -> str:
    """<UTC time>-<model hash>; a suffix keeps two identical models trained in one second apart."""
    digest = hashlib.sha256(booster.model_to_string().encode()).hexdigest()[:6]
    version = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{digest}"
    if (paths.models_dir() / version).exists():
        version += f"-{uuid.uuid4().hex[:4]}"
    return version


def _progress_callback(rounds: int, show: bool):
    bar = progress.bar(total=rounds, desc="recsql train", unit="round", disable=not show)

    def callback(env: lgb.callback.CallbackEnv) -> None:
        bar.update(1)
        if env.evaluation_result_list:
            scores = {name: value for _, name, value, _ in env.evaluation_result_list}
            bar.set_postfix(
                {k.replace("ndcg@", "ndcg"): f"{v:.4f}" for k, v in scores.items()}, refresh=False
            )

    callback.order = 30  # after early stopping's check
    callback.bar = bar
    return callback
