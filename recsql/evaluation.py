"""Offline evaluation on the test snapshot: the ranker and the baselines, on the same users.

Users are every user with a label in the test window, whether or not any generator found
their items: end-to-end numbers, not numbers within the candidates. Methods:

* ``ranker``: the model's scores over the user's candidates;
* ``popularity_recent``: every item available at the cutoff, by events in the last 7 days
  (then 30), the same list for everyone, not limited to candidates;
* ``gen_<name>``: each candidate generator's own candidates by its own score (``gen_content``
  is the content-only ranking).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import lightgbm as lgb
import numpy as np
import pyarrow as pa

from recsql import metrics
from recsql.ranking_data import load_split

SNAPSHOT = "test"
DEPTH = max(metrics.KS)
MetricRow = tuple[str, str, str, str, int, float]  # version, snapshot, method, metric, k, value


def generator_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_name = 'fct_candidates'"
        " and column_name like 'gen\\_%\\_score' escape '\\' order by ordinal_position"
    ).fetchall()
    return [name[len("gen_") : -len("_score")] for (name,) in rows]


def evaluate_test_snapshot(
    con: duckdb.DuckDBPyConnection, booster: lgb.Booster, features: Sequence[str], version: str
) -> list[MetricRow]:
    users = con.execute(
        "select user_id, count(*) from int_labels where snapshot = ? group by user_id order by user_id",
        [SNAPSHOT],
    ).fetchall()
    if not users:
        return []
    user_ids = np.array([user for user, _ in users], dtype=object)
    relevant = np.array([count for _, count in users])
    catalog = con.execute(
        "select available.item_id, coalesce(popularity.events_total, 0)"
        " from int_available_items as available left join int_item_popularity as popularity"
        " on available.snapshot = popularity.snapshot and available.item_id = popularity.item_id"
        " where available.snapshot = ? order by available.item_id",
        [SNAPSHOT],
    ).fetchall()
    item_ids = np.array([item for item, _ in catalog], dtype=object)
    item_events = np.array([events for _, events in catalog], dtype=np.float64)

    methods = {"ranker": _ranker_top(con, booster, features)}
    methods["popularity_recent"] = (
        "select eval_users.user_id, popular.item_id, popular.rank from eval_users cross join ("
        " select popularity.item_id, row_number() over (order by events_7d desc, events_30d desc,"
        " popularity.item_id) - 1 as rank from int_item_popularity as popularity"
        " inner join int_available_items as available on popularity.snapshot = available.snapshot"
        " and popularity.item_id = available.item_id where popularity.snapshot = 'test'"
        f" qualify rank < {DEPTH}) as popular"
    )
    for name in generator_names(con):
        score = f'"gen_{name}_score"'
        methods[f"gen_{name}"] = (
            "select user_id, item_id, row_number() over (partition by user_id"
            f" order by {score} desc, item_id) - 1 as rank from fct_candidates"
            f" where split = 'test' and {score} is not null qualify rank < {DEPTH}"
        )
    con.register("eval_users", pa.table({"user_id": pa.array(user_ids.tolist(), pa.string())}))
    rows: list[MetricRow] = []
    try:
        for method, ranked_sql in methods.items():
            ranked = _ranked(con, ranked_sql, user_ids, item_ids)
            for metric, k, value in metrics.all_metrics(
                ranked, relevant, len(item_ids), item_events
            ):
                rows.append((version, SNAPSHOT, method, metric, k, value))
    finally:
        con.unregister("eval_users")
        con.unregister("ranker_scores")
    return rows


def _ranker_top(
    con: duckdb.DuckDBPyConnection, booster: lgb.Booster, features: Sequence[str]
) -> str:
    data = load_split(con, SNAPSHOT, features)
    scores = (
        booster.predict(data.features, num_iteration=booster.best_iteration or None)
        if len(data.labels)
        else []
    )
    table = pa.table(
        {
            "user_id": pa.array(data.users.tolist(), pa.string()),
            "item_id": pa.array(data.items.tolist(), pa.string()),
            "score": pa.array(np.asarray(scores, dtype=np.float64)),
        }
    )
    con.register("ranker_scores", table)
    return (
        "select user_id, item_id, row_number() over (partition by user_id order by score desc,"
        f" item_id) - 1 as rank from ranker_scores qualify rank < {DEPTH}"
    )


def _ranked(
    con: duckdb.DuckDBPyConnection, ranked_sql: str, user_ids: np.ndarray, item_ids: np.ndarray
) -> metrics.Ranked:
    rows = con.execute(
        f"select ranked.user_id, ranked.item_id, ranked.rank, labels.item_id is not null as hit"
        f" from ({ranked_sql}) as ranked"
        " inner join eval_users on ranked.user_id = eval_users.user_id"
        " left join int_labels as labels on labels.snapshot = 'test'"
        " and labels.user_id = ranked.user_id and labels.item_id = ranked.item_id"
    ).fetchnumpy()
    return metrics.Ranked(
        user=np.searchsorted(user_ids, rows["user_id"].astype(object)),
        rank=np.asarray(rows["rank"], dtype=np.int64),
        item=np.searchsorted(item_ids, rows["item_id"].astype(object)),
        hit=np.asarray(rows["hit"], dtype=bool),
    )
