"""Fit a LightGBM lambdarank ranker on fct_candidates and measure it end-to-end.

Rows go from DuckDB to LightGBM through Arrow, sorted by query (snapshot, user); the group
sizes are the run lengths of the queries in exactly that row order. Early stopping uses a
held-out group of users (split by user, never by row); groups without a positive are left out
of training, because LightGBM scores them NDCG 1. The test snapshot is then ranked by the model
and by the baselines, over every test user with labels (see ``evaluation``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from recsql import evaluation, paths, progress, warehouse
from recsql.ranking_data import RankingData, TrainingError, group_sizes_in_row_order, load_split

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [5, 10, 20],
    "learning_rate": 0.05,
    "num_leaves": 63,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambdarank_truncation_level": 20,
    "deterministic": True,
    "force_col_wise": True,
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


def is_validation_user(users: np.ndarray, seed: int, fraction: float) -> np.ndarray:
    """A stable pseudo-random choice of users (by hash of seed and id), not of rows."""
    buckets = {
        user: int.from_bytes(hashlib.sha1(f"{seed}:{user}".encode()).digest()[:4], "big") % 10_000
        for user in np.unique(users)
    }
    threshold = fraction * 10_000
    return np.fromiter((buckets[user] < threshold for user in users), dtype=bool, count=len(users))


def in_positive_groups(data: RankingData) -> np.ndarray:
    """Rows whose query (snapshot, user) has at least one positive label."""
    sizes = group_sizes_in_row_order(data.snapshots, data.users)
    positives = (
        np.add.reduceat(data.labels > 0, np.r_[0, np.cumsum(sizes)[:-1]]) if len(sizes) else sizes
    )
    return np.repeat(positives > 0, sizes)


def dataset(
    data: RankingData,
    features: Sequence[str],
    params: dict[str, Any],
    reference: lgb.Dataset | None = None,
) -> lgb.Dataset:
    """A binned LightGBM dataset; the float rows are released once binned.

    Binned here, not inside ``lgb.train``, so it must get the training parameters itself
    (max_bin, min_data_in_leaf, seeds...): without them LightGBM bins with its defaults.
    """
    built = lgb.Dataset(
        data.features,
        label=data.labels,
        group=group_sizes_in_row_order(data.snapshots, data.users),
        feature_name=list(features),
        reference=reference,
        params=params,
        free_raw_data=True,
    )
    return built.construct()


def train_ranker(
    db: Path,
    *,
    params: dict[str, Any] | None = None,
    rounds: int = 500,
    early_stopping: int = 50,
    validation_fraction: float = 0.15,
    seed: int = 42,
    show_progress: bool = True,
) -> TrainResult:
    """Train on the train split, save and register the model, evaluate it and the baselines."""
    with warehouse.connect(db) as con:
        features = warehouse.ranker_features(con)
        progress.note(f"reading the train split ({len(features)} features)", show_progress)
        data = load_split(con, "train", features)
        if not len(data.labels):
            raise TrainingError(f"fct_candidates in {db} has no train rows: run dbt build first")
        keep = in_positive_groups(data)
        if not keep.any():
            raise TrainingError(
                "no train user has a label among their candidates: nothing to learn"
            )
        validation = is_validation_user(data.users, seed, validation_fraction)
        if validation[keep].all() or not validation[keep].any():
            validation = np.zeros(len(validation), dtype=bool)
        counts = {
            "train_rows": int(keep.sum()),
            "train_users": int(len(np.unique(data.users[keep]))),
            "positives": int((data.labels[keep] > 0).sum()),
            "validation_users": int(len(np.unique(data.users[keep & validation]))),
        }
        progress.note(
            f"{counts['train_rows']:,} rows of {counts['train_users']:,} users with a positive;"
            f" {counts['validation_users']:,} held out for early stopping",
            show_progress,
        )
        merged = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
        # each part is copied out, binned and dropped in turn: the float rows exist about twice
        train_set = dataset(data.subset(keep & ~validation), features, merged)
        valid_sets = (
            [dataset(data.subset(keep & validation), features, merged, train_set)]
            if validation.any()
            else []
        )
        del data, keep, validation
        on_round = _progress_callback(rounds, show_progress)
        callbacks = [on_round]
        if valid_sets:
            callbacks.append(lgb.early_stopping(early_stopping, verbose=False))
        booster = lgb.train(
            merged, train_set, num_boost_round=rounds, valid_sets=valid_sets, callbacks=callbacks
        )
        on_round.bar.close()
        best_iteration = booster.best_iteration or booster.current_iteration()

        snapshots = warehouse.snapshot_cutoffs(con)
        version = _model_version(booster)
        metadata = {
            "model_version": version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "features": list(features),
            "feature_hash": feature_hash(features),
            "params": merged,
            "best_iteration": best_iteration,
            "seed": seed,
            "train_snapshots": {
                name: cut for name, (split, cut) in snapshots.items() if split == "train"
            },
            "test_cutoff": next(
                (cut for split, cut in snapshots.values() if split == "test"), None
            ),
            **counts,
            "versions": library_versions(),
        }
        model_dir = save_model(booster, metadata, paths.models_dir() / version)
        result = TrainResult(
            version,
            model_dir,
            best_iteration,
            metadata["train_rows"],
            metadata["train_users"],
            metadata["positives"],
        )
        del train_set, valid_sets  # the test split is read next: free the train bins
        progress.note(
            f"saved {model_dir}; evaluating it and the baselines on the test snapshot",
            show_progress,
        )
        result.metrics = evaluation.evaluate_test_snapshot(con, booster, features, version)
        warehouse.register_model(con, metadata, model_dir, booster, result.metrics)
    return result


def feature_hash(features: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(features).encode()).hexdigest()[:16]


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {
        "python": platform.python_version(),
        **{name: version(name) for name in ("lightgbm", "duckdb", "numpy", "pyarrow", "recsql")},
    }


def save_model(booster: lgb.Booster, metadata: dict, target: Path) -> Path:
    """Write model.txt and metadata.json to a temp folder, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".tmp-{uuid.uuid4().hex}"
    temporary.mkdir()
    try:
        booster.save_model(str(temporary / "model.txt"), num_iteration=metadata["best_iteration"])
        (temporary / "metadata.json").write_text(json.dumps(metadata, indent=2, default=str))
        os.replace(temporary, target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return target


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
