"""Offline evaluation on the test snapshot: the ranker and the baselines, on the same users.

Users are every user with a label in the test window, whether or not any generator found
their items: end-to-end numbers, not numbers within the candidates. When the build leaves out
items users already had (``int_seen_policy``), the truth is their new items only. Methods:

* ``ranker``: the model's scores over the user's candidates;
* ``popularity_recent``: every item available at the cutoff, by events in the last 7 days
  (then 30), the same list for everyone, not limited to candidates;
* ``gen_<name>``: each candidate generator's own candidates by its own score, then the user's
  other candidates by recent popularity (``gen_repurchase`` is repurchase-then-popularity):
  exactly what ``recsql score --method gen_<name>`` would serve.

Every mean comes with a 95 % bootstrap interval over users, and the ranker is compared with the
best baseline by a paired bootstrap (``Verdict``), so `recsql train` can say plainly whether
the ranker earned its place and `recsql score --method best` can serve the winner.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from recsql import metrics, warehouse
from recsql.ranking_data import RankingData, group_sizes_in_row_order

SNAPSHOT = "test"
DEPTH = max(metrics.KS)
# snapshot, method, metric, k, value, ci95_low, ci95_high; a model_metrics row leads with the version
MeasuredRow = tuple[str, str, str, int, float, float | None, float | None]
MetricRow = tuple[str, str, str, str, int, float, float | None, float | None]
VERDICT_METRIC, VERDICT_K = "ndcg", 10
# DuckDB's bound while the lists are ranked: at 5M events (20.5M test rows, random scores)
# judging the test snapshot peaked at 3,614 MiB with 2GB against 5,232 at 4GB, in 77 s against 84
EVALUATION_MEMORY = "2GB"
RANKER = "ranker"


@dataclass(frozen=True)
class Verdict:
    """The ranker against the best baseline on the test snapshot, by NDCG@10."""

    best_baseline: str
    ranker: float
    baseline: float
    p_not_better: float  # paired bootstrap over users: share of resamples with no gain

    @property
    def ratio(self) -> float:
        return self.ranker / self.baseline if self.baseline else float("inf")

    @property
    def ranker_wins(self) -> bool:
        return self.ranker > self.baseline

    @property
    def serve_method(self) -> str:
        """What ``recsql score --method best`` serves: never a ranker that lost."""
        return RANKER if self.ranker_wins else self.best_baseline

    def as_dict(self) -> dict:
        return {
            "metric": f"{VERDICT_METRIC}@{VERDICT_K}",
            "best_baseline": self.best_baseline,
            "ranker": self.ranker,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "p_not_better": self.p_not_better,
            "serve_method": self.serve_method,
        }

    def sentence(self) -> str:
        gain = f"{(self.ratio - 1) * 100:+.1f} %"
        head = (
            f"ranker NDCG@10 {self.ranker:.4f} vs best baseline {self.best_baseline}"
            f" {self.baseline:.4f} ({gain}, paired bootstrap P(not better) {self.p_not_better:.3f})"
        )
        if not self.ranker_wins:
            return (
                f"WARNING: the ranker does not beat {self.best_baseline}: {head}. "
                f"`recsql score` (--method best) will serve {self.best_baseline}; "
                "`--method ranker` forces the ranker."
            )
        if self.p_not_better >= 0.05:
            return f"the ranker is ahead, but not surely: {head}."
        return f"the ranker beats every baseline: {head}."


@dataclass
class Evaluation:
    rows: list[MeasuredRow]
    verdict: Verdict | None

    def rows_for(self, version: str) -> list[MetricRow]:
        """The rows as model_metrics holds them, for the model registered as ``version``."""
        return [(version, *row) for row in self.rows]


def generator_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_name = 'fct_candidates'"
        " and column_name like 'gen\\_%\\_score' escape '\\' order by ordinal_position"
    ).fetchall()
    return [name[len("gen_") : -len("_score")] for (name,) in rows]


def evaluate_test_snapshot(
    con: duckdb.DuckDBPyConnection, test: RankingData, scores: np.ndarray
) -> Evaluation:
    """Rank the test snapshot by the ranker's ``scores`` of its rows (``test``: their keys)
    and by every baseline; intervals for each, and the verdict."""
    exclude_seen = seen_items_excluded(con)
    con.execute(
        "create or replace temp view eval_labels as select labels.user_id, labels.item_id"
        " from int_labels as labels where labels.snapshot = 'test'"
        + (f" and not exists ({SEEN_SQL.format(user='labels.user_id', item='labels.item_id')})"
           if exclude_seen else "")
    )  # fmt: skip
    users = con.execute(
        "select user_id, count(*) from eval_labels group by user_id order by user_id"
    ).fetchall()
    if not users:
        return Evaluation([], None)
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

    methods = {"popularity_recent": _popularity_top(exclude_seen)}
    names = generator_names(con)
    methods.update({f"gen_{name}": _generator_top(name) for name in names})
    measured: dict[str, tuple[metrics.Ranked, dict[int, dict[str, np.ndarray]]]] = {}
    # ids with their place in user_ids / item_ids: DuckDB hands back places, not strings
    con.register("eval_users", places("user_id", user_ids))
    con.register("eval_items", places("item_id", item_ids))
    try:
        # the lists' sorts spill past EVALUATION_MEMORY rather than sit beside the test keys
        with warehouse.memory_bound(con, EVALUATION_MEMORY):
            methods = {"ranker": _ranker_top(con, test, scores), **methods}
            _store_fallback(con, names)
            for method, ranked_sql in methods.items():
                ranked = _ranked(con, ranked_sql)
                measured[method] = (
                    ranked,
                    {k: metrics.per_user(ranked, relevant, k) for k in metrics.KS},
                )
    finally:
        con.unregister("eval_users")
        con.unregister("eval_items")
        con.unregister("ranker_lists")
        con.execute("drop table if exists eval_fallback")
    intervals = _intervals({method: per_user for method, (_, per_user) in measured.items()})
    rows: list[MeasuredRow] = []
    for method, (ranked, per_user) in measured.items():
        rows.extend(_method_rows(method, ranked, per_user, intervals, item_ids, item_events))
    verdict_values = {
        method: per_user[VERDICT_K][VERDICT_METRIC] for method, (_, per_user) in measured.items()
    }
    return Evaluation(rows, compare_with_best_baseline(verdict_values))


def _intervals(
    per_method: dict[str, dict[int, dict[str, np.ndarray]]],
) -> dict[tuple[str, int, str], tuple[float, float]]:
    """95 % bootstrap interval of every (method, k, metric) mean, all from one set of user
    resamples: one product of the draw counts with every series (drawing them again per
    series cost ~20 s at 2M events, for the same draws)."""
    names = [
        (method, k, name)
        for method, per_user in per_method.items()
        for k, values in per_user.items()
        for name in values
    ]
    if not names:
        return {}
    series = np.column_stack([per_method[method][k][name] for method, k, name in names])
    low, high = metrics.confidence_interval(metrics.bootstrap_means(series))
    return {name: (float(lo), float(hi)) for name, lo, hi in zip(names, low, high, strict=True)}


SEEN_SQL = (
    "select 1 from int_user_item_history as history where history.snapshot = 'test'"
    " and history.user_id = {user} and history.item_id = {item}"
)


def seen_items_excluded(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the build leaves out items users already had (int_seen_policy). Then the test
    snapshot's truth leaves them out too, and so does every list, popularity's included: the
    question becomes "what new items will they take", for every method alike."""
    policy = warehouse.seen_policy(con)
    return policy is not None and policy.exclude


def generator_order(name: str) -> str:
    """ORDER BY of a generator as a method: its own score, then recent popularity, then id."""
    fallback = ', "gen_popular_recent_score" desc nulls last' if name != "popular_recent" else ""
    return f'"gen_{name}_score" desc nulls last{fallback}, item_id'


def _popularity_top(exclude_seen: bool) -> str:
    """SQL: the same list for everyone, less what each user already had when seen items are
    left out."""
    unseen = (
        f" where not exists ({SEEN_SQL.format(user='eval_users.user_id', item='popular.item_id')})"
        if exclude_seen
        else ""
    )
    return (
        "select eval_users.user_id, popular.item_id, row_number() over (partition by"
        " eval_users.user_id order by popular.position) - 1 as rank from eval_users cross join ("
        " select popularity.item_id, row_number() over (order by events_7d desc, events_30d desc,"
        " popularity.item_id) as position from int_item_popularity as popularity"
        " inner join int_available_items as available on popularity.snapshot = available.snapshot"
        " and popularity.item_id = available.item_id where popularity.snapshot = 'test'"
        f" qualify position <= {DEPTH * (10 if exclude_seen else 1)}) as popular{unseen}"
        f" qualify rank < {DEPTH}"
    )


def _store_fallback(con: duckdb.DuckDBPyConnection, names: list[str]) -> None:
    """Each test user's first ``2 * DEPTH`` candidates in the baselines' fallback order (recent
    popularity, then item id), with every generator's score: ``_generator_top`` fills a list
    from them instead of ranking all of the user's candidates once per generator."""
    scores = ", ".join(warehouse.quote(f"gen_{name}_score") for name in names)
    con.execute(
        f"create or replace temp table eval_fallback as select user_id, item_id, {scores}"
        " from fct_candidates where split = 'test' qualify row_number() over (partition by"
        f" user_id order by {generator_order('popular_recent')}) <= {2 * DEPTH}"
    )


def _generator_top(name: str) -> str:
    """SQL: a generator's first ``DEPTH`` test rows per user in ``generator_order``: its own
    candidates (a score) by score, then the user's others by recent popularity.

    Ranks only its own rows and the user's fallback rows (``_store_fallback``) without its score:
    with k < DEPTH own rows, at most k of the 2 * DEPTH fallback rows are its own, so the
    DEPTH - k others the list needs are among them; with k >= DEPTH none is needed. Ranking every
    candidate once per generator took ~9 s each at 5M events (20.5M test rows)."""
    score = warehouse.quote(f"gen_{name}_score")
    columns = ", ".join(
        dict.fromkeys(["user_id", "item_id", score, warehouse.quote("gen_popular_recent_score")])
    )
    return (
        f"select user_id, item_id, row_number() over (partition by user_id"
        f" order by {generator_order(name)}) - 1 as rank from ("
        f"select {columns} from fct_candidates where split = 'test' and {score} is not null"
        f" union all select {columns} from eval_fallback where {score} is null"
        f") qualify rank < {DEPTH}"
    )


def compare_with_best_baseline(values: dict[str, np.ndarray]) -> Verdict | None:
    """The best non-ranker method by mean, and the ranker's paired bootstrap against it."""
    baselines = {name: v for name, v in values.items() if name != RANKER}
    if RANKER not in values or not baselines:
        return None
    best = max(baselines, key=lambda name: (baselines[name].mean(), name))
    return Verdict(
        best_baseline=best,
        ranker=float(values[RANKER].mean()),
        baseline=float(baselines[best].mean()),
        p_not_better=metrics.p_not_better(values[RANKER], baselines[best]),
    )


def _method_rows(
    method: str,
    ranked: metrics.Ranked,
    per_user: dict[int, dict[str, np.ndarray]],
    intervals: dict[tuple[str, int, str], tuple[float, float]],
    item_ids: np.ndarray,
    item_events: np.ndarray,
) -> list[MeasuredRow]:
    """Every metric at every k for one method; per-user means with 95 % bootstrap intervals."""
    rows: list[MeasuredRow] = []
    for k, values in per_user.items():
        rows += [
            (SNAPSHOT, method, name, k, float(v.mean()), *intervals[(method, k, name)])
            for name, v in values.items()
        ]
        rows.append(
            (
                SNAPSHOT,
                method,
                "coverage",
                k,
                metrics.coverage(ranked, len(item_ids), k),
                None,
                None,
            )
        )
        rows.append(
            (SNAPSHOT, method, "novelty", k, metrics.novelty(ranked, item_events, k), None, None)
        )
    return rows


def _ranker_top(con: duckdb.DuckDBPyConnection, data: RankingData, scores: np.ndarray) -> str:
    """The ranker's top ``DEPTH`` rows per user, ranked here: the rows come grouped by user in
    item id order, so a stable sort by score within each user breaks ties by item id, as
    ``row_number() over (... order by score desc, item_id)`` would. Only those rows go to
    DuckDB, not every test row's ids (20.5M rows at 5M events)."""
    top, rank = top_rows_per_query(data, scores, DEPTH)
    table = pa.table(
        {
            "user_id": pa.array(data.users[top].tolist(), pa.string()),
            "item_id": pa.array(data.items[top].tolist(), pa.string()),
            "rank": pa.array(rank),
        }
    )
    con.register("ranker_lists", table)
    return "select user_id, item_id, rank from ranker_lists"


def top_rows_per_query(
    data: RankingData, scores: np.ndarray, depth: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of each query's ``depth`` best rows by score (ties keep row order), and their
    0-based rank."""
    sizes = group_sizes_in_row_order(data.snapshots, data.users)
    query = np.repeat(np.arange(len(sizes)), sizes)
    order = np.lexsort((-np.asarray(scores, dtype=np.float64), query))  # stable: ties in row order
    rank = np.arange(len(order)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    kept = rank < depth
    return order[kept], rank[kept]


def places(column: str, ids: np.ndarray) -> pa.Table:
    """``ids`` and their places, in ``<column>`` and ``<column>_place``: a name of its own, as
    the popularity list's subquery sees eval_users' columns (DuckDB joins it laterally), where
    an unqualified name such as its ``position`` would resolve to this table's column."""
    return pa.table(
        {column: pa.array(ids.tolist(), pa.string()), f"{column}_place": np.arange(len(ids))}
    )


def _ranked(con: duckdb.DuckDBPyConnection, ranked_sql: str) -> metrics.Ranked:
    """A method's lists as places in the evaluated users and the catalog (``eval_users``,
    ``eval_items``), and whether each row is in the user's truth. DuckDB joins the ids to their
    places: looking 1.8M ids up in Python (``np.searchsorted`` on strings) took ~3 s a method
    at 5M events."""
    rows = con.execute(
        "select eval_users.user_id_place as user, coalesce(eval_items.item_id_place, -1) as item,"
        " ranked.rank, labels.item_id is not null as hit"
        f" from ({ranked_sql}) as ranked"
        " inner join eval_users on ranked.user_id = eval_users.user_id"
        " left join eval_items on ranked.item_id = eval_items.item_id"
        " left join eval_labels as labels"
        " on labels.user_id = ranked.user_id and labels.item_id = ranked.item_id"
    ).fetchnumpy()
    item = np.asarray(rows["item"], dtype=np.int64)
    if (item < 0).any():  # candidates are available items (int_candidates): never, unless broken
        raise ValueError(
            f"{int((item < 0).sum()):,} ranked test rows name items outside the test snapshot's"
            " int_available_items: rebuild the warehouse (dbt build)"
        )
    return metrics.Ranked(
        user=np.asarray(rows["user"], dtype=np.int64),
        rank=np.asarray(rows["rank"], dtype=np.int64),
        item=item,
        hit=np.asarray(rows["hit"], dtype=bool),
    )
