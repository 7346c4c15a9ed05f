"""What the report shows, read from the warehouse: metrics, recall, importance, checks, and a
look at the test snapshot through the model that was evaluated on it.

The saved model was refit with the test window, so it cannot be judged on it. The numbers per
user (score distribution, rank of the first hit, quality by segment) come from the recipe that
``recsql train`` evaluated: the same parameters and rounds fitted on the train snapshots only,
refit here (deterministic, seeded), then ranked over the test snapshot's candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import lightgbm as lgb
import numpy as np
import pyarrow as pa

from recsql import attribution, evaluation, metrics, model_files, training, warehouse
from recsql.ranking_data import RankingData, feature_matrix, load_split

TREND_VERSIONS = 10
SEGMENT_METRIC, SEGMENT_K = "ndcg", 10
TOP_CATEGORIES = 8


@dataclass(frozen=True)
class Check:
    """One row of monitor_checks."""

    group: str
    name: str
    subject: str
    value: float | None
    threshold: float | None
    status: str
    rule: str

    def line(self) -> str:
        value = "n/a" if self.value is None else f"{self.value:.4g}"
        limit = "n/a" if self.threshold is None else f"{self.threshold:.4g}"
        return f"{self.status.upper()} {self.name} [{self.subject}]: {value} (threshold {limit}) — {self.rule}"


def data_checks(con: duckdb.DuckDBPyConnection) -> list[Check] | None:
    """Every row of monitor_checks, failures first; None for a warehouse built without it."""
    if not warehouse.table_exists(con, "monitor_checks"):
        return None
    rows = con.execute(
        "select check_group, check_name, subject, value, threshold, status, rule from monitor_checks"
        " order by case status when 'fail' then 0 when 'warn' then 1 else 2 end, check_group,"
        " check_name, value desc, subject"
    ).fetchall()
    return [Check(*row) for row in rows]


def warned_checks(db: Path) -> list[Check] | None:
    """The checks that did not pass (read from monitor_checks, which dbt build wrote)."""
    with warehouse.connect(db, read_only=True) as con:
        checks = data_checks(con)
    return None if checks is None else [check for check in checks if check.status != "pass"]


@dataclass
class TestLook:
    """The evaluated recipe on the test snapshot, per user."""

    hit_scores: np.ndarray
    other_scores: np.ndarray
    first_hits: dict[str, np.ndarray]  # method -> 1-based rank of the first hit, 0 = none
    per_user: dict[str, np.ndarray]  # method -> the segment metric per user
    users: np.ndarray
    segments: list[tuple[str, list[str], dict[str, list[float]], list[int]]] = field(
        default_factory=list
    )


def look_at_test_snapshot(
    con: duckdb.DuckDBPyConnection, model: model_files.LoadedModel, baseline: str | None
) -> TestLook | None:
    """Refit the evaluated recipe, rank the test snapshot, and measure per user and segment."""
    metadata = model.metadata
    features, categories = metadata["features"], metadata.get("categories") or {}
    params, rounds = metadata["params"], int(metadata["best_iteration"])
    train = load_split(con, "train", features, categories=categories)
    train = train.subset(training.in_positive_groups(train))
    if not len(train.labels):
        return None
    booster = lgb.train(
        training.booster_params(params),
        training.dataset(train, features, params),
        num_boost_round=rounds,
    )
    del train
    test = load_split(con, "test", features, categories=categories)
    exclude = evaluation.seen_items_excluded(con)
    truth = con.execute(
        "select labels.user_id, count(*) from int_labels as labels where labels.snapshot = 'test'"
        + (f" and not exists ({evaluation.SEEN_SQL.format(user='labels.user_id', item='labels.item_id')})"
           if exclude else "")
        + " group by labels.user_id order by labels.user_id"
    ).fetchall()  # fmt: skip
    if not truth:
        return None
    users = np.array([user for user, _ in truth], dtype=object)
    relevant = np.array([count for _, count in truth])
    scores = booster.predict(test.features) if len(test.labels) else np.zeros(0)
    hit = test.labels > 0
    look = TestLook(scores[hit], scores[~hit], {}, {}, users)
    ranked = {"ranker": _rank_by_score(test, scores, hit, users)}
    if baseline and baseline.startswith("gen_"):
        ranked[baseline] = _baseline_ranked(con, baseline[len("gen_") :], users)
    for method, rows in ranked.items():
        values = metrics.per_user(rows, relevant, evaluation.DEPTH)
        look.first_hits[method] = np.where(
            values["hit_rate"] > 0, np.rint(1 / np.maximum(values["mrr"], 1e-9)), 0
        ).astype(int)
        look.per_user[method] = metrics.per_user(rows, relevant, SEGMENT_K)[SEGMENT_METRIC]
    look.segments = segments(con, users, look.per_user)
    return look


def _rank_by_score(
    data: RankingData, scores: np.ndarray, hit: np.ndarray, users: np.ndarray
) -> metrics.Ranked:
    """Each user's rows ranked by score, as evaluation ranks them (``top_rows_per_query``), as
    places in ``users``, the users with a truth."""
    top, rank = evaluation.top_rows_per_query(data, scores, evaluation.DEPTH)
    row_users = data.users[top]
    index = np.clip(np.searchsorted(users, row_users), 0, max(0, len(users) - 1))
    known = users[index] == row_users if len(top) else np.zeros(0, bool)
    return metrics.Ranked(
        index[known], rank[known], np.zeros(int(known.sum()), np.int64), hit[top][known]
    )


def _baseline_ranked(
    con: duckdb.DuckDBPyConnection, generator: str, users: np.ndarray
) -> metrics.Ranked:
    """A generator as a method (its score, then recent popularity), as evaluation ranks it."""
    rows = con.execute(
        "select user_id, rank, coalesce(label, 0) > 0 from (select user_id, label,"
        f" row_number() over (partition by user_id order by {evaluation.generator_order(generator)})"
        f" - 1 as rank from fct_candidates where split = 'test') where rank < {evaluation.DEPTH}"
    ).fetchall()
    user_ids = np.array([row[0] for row in rows], dtype=object)
    index = np.clip(np.searchsorted(users, user_ids), 0, max(0, len(users) - 1))
    known = users[index] == user_ids if len(rows) else np.zeros(0, bool)
    return metrics.Ranked(
        index[known],
        np.array([row[1] for row in rows], dtype=np.int64)[known],
        np.zeros(int(known.sum()), np.int64),
        np.array([row[2] for row in rows], dtype=bool)[known],
    )


def segments(
    con: duckdb.DuckDBPyConnection, users: np.ndarray, per_user: dict[str, np.ndarray]
) -> list[tuple[str, list[str], dict[str, list[float]], list[int]]]:
    """Mean per-user quality cut three ways: new vs returning users (events before the test
    cutoff), activity decile of the returning ones, and their top category."""
    con.register("look_users", pa.table({"user_id": pa.array(users.tolist(), pa.string())}))
    try:
        rows = con.execute(
            "select look_users.user_id, aggregates.user_id is not null,"
            " case when aggregates.user_id is not null then ntile(10) over (partition by"
            " aggregates.user_id is not null order by aggregates.events, aggregates.user_id) end,"
            " aggregates.top_category from look_users left join int_user_aggregates as aggregates"
            " on aggregates.user_id = look_users.user_id and aggregates.snapshot = 'test'"
            " order by look_users.user_id"
        ).fetchall()
    finally:
        con.unregister("look_users")
    returning = np.array([row[1] for row in rows], dtype=bool)
    decile = np.array([row[2] or 0 for row in rows])
    category = np.array([row[3] or "(none)" for row in rows], dtype=object)
    cuts = [("new vs returning users", np.where(returning, "returning", "new"))]
    cuts.append(("activity decile (1 = least active)",
                 np.where(returning, np.char.add("decile ", decile.astype(str)), "new")))  # fmt: skip
    names, counts = np.unique(category[returning], return_counts=True)
    top = set(names[np.argsort(-counts)][:TOP_CATEGORIES])
    cuts.append(("top category", np.array(
        [c if r and c in top else ("new" if not r else "other") for c, r in zip(category, returning, strict=True)],
        dtype=object,
    )))  # fmt: skip
    out = []
    for title, labels in cuts:
        values = sorted(set(labels.tolist()), key=_segment_order)
        out.append((
            title,
            values,
            {method: [float(v[labels == s].mean()) for s in values] for method, v in per_user.items()},
            [int((labels == s).sum()) for s in values],
        ))  # fmt: skip
    return out


def _segment_order(label: str) -> tuple:
    if label.startswith("decile "):
        return (1, int(label.split()[1]), "")
    return (0 if label in ("new", "returning") else 2, 0, label in ("other", "new"), label)


def contributions(
    con: duckdb.DuckDBPyConnection,
    model: model_files.LoadedModel,
    users: Sequence[str],
    items_per_user: int = 3,
    features_shown: int = 8,
) -> list[tuple[str, list[str], list[str], np.ndarray]]:
    """For each user, their top recommended items and the features that moved their scores
    most (path attribution, ``attribution.contributions``; the bias column left out)."""
    features = model.metadata["features"]
    columns = ", ".join(f"candidates.{warehouse.quote(name)}" for name in features)
    tables = attribution.leaf_tables(model.booster, attribution.best_iterations(model.booster))
    out = []
    for user in users:
        table = con.sql(
            f"select recommendations.item_id, items.title, {columns} from recommendations"
            " inner join fct_candidates as candidates on candidates.split = 'serve'"
            " and candidates.user_id = recommendations.user_id"
            " and candidates.item_id = recommendations.item_id"
            " left join int_items_clean as items on items.item_id = recommendations.item_id"
            " where recommendations.user_id = ? order by recommendations.rank limit ?",
            params=[user, items_per_user],
        ).to_arrow_table()
        if not table.num_rows:
            continue
        matrix = feature_matrix(table, features, model.metadata.get("categories"))
        values = attribution.contributions(model.booster, matrix, tables)[:, :-1]
        strongest = np.argsort(-np.abs(values).sum(axis=0))[:features_shown]
        labels = [
            f"{index + 1}. {(title or item)[:28]}"
            for index, (item, title) in enumerate(
                zip(
                    table.column("item_id").to_pylist(),
                    table.column("title").to_pylist(),
                    strict=True,
                )
            )
        ]
        out.append((user, labels, [features[i] for i in strongest], values[:, strongest]))
    return out
