"""For people: the metrics table (model vs baselines), users' history beside their
recommendations, and the HTML report (``write_report``; the page is put together in
``report_page`` from ``report_data`` and ``report_plots``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from recsql import warehouse

SHOWN = [
    ("ndcg", 10),
    ("recall", 10),
    ("map", 10),
    ("mrr", 10),
    ("hit_rate", 10),
    ("recall", 20),
    ("coverage", 10),
    ("novelty", 10),
]


def metrics_table(rows: Sequence[tuple]) -> str:
    """Methods as rows, the key metrics as columns, best NDCG@10 first."""
    values = {(method, metric, k): value for _, _, method, metric, k, value, _, _ in rows}
    intervals = {(method, metric, k): (low, high) for _, _, method, metric, k, _, low, high in rows}
    methods = sorted(
        {method for method, _, _ in values}, key=lambda m: -values.get((m, "ndcg", 10), 0.0)
    )
    header = f"{'method':<24}" + "".join(f"{f'{metric}@{k}':>12}" for metric, k in SHOWN)
    header += f"{'ndcg@10 95% CI':>20}"
    lines = [header, "-" * len(header)]
    for method in methods:
        cells = "".join(
            f"{values.get((method, metric, k), float('nan')):>12.4f}" for metric, k in SHOWN
        )
        low, high = intervals.get((method, "ndcg", 10), (None, None))
        cells += f"{f'[{low:.4f}, {high:.4f}]':>20}" if low is not None else f"{'':>20}"
        lines.append(f"{method:<24}{cells}")
    return "\n".join(lines)


def chosen_users(con: duckdb.DuckDBPyConnection, count: int) -> list[str]:
    """A stable handful of served users with some history (at least 5 events)."""
    return [
        user
        for (user,) in con.execute(
            "select recommendations.user_id from recommendations"
            " inner join int_user_aggregates as aggregates on aggregates.user_id = recommendations.user_id"
            " and aggregates.snapshot = 'serve' and aggregates.events >= 5"
            " group by recommendations.user_id order by hash(recommendations.user_id) limit ?",
            [count],
        ).fetchall()
    ]


def user_history(con: duckdb.DuckDBPyConnection, user: str, limit: int = 5) -> list[tuple]:
    """(date, title) of the user's latest kept events."""
    return con.execute(
        "select strftime(events.event_ts, '%Y-%m-%d'), items.title from int_interactions_clean as events"
        " inner join int_items_clean as items on events.item_id = items.item_id"
        " where events.user_id = ? order by events.event_ts desc limit ?",
        [user, limit],
    ).fetchall()


def user_top(con: duckdb.DuckDBPyConnection, user: str, limit: int = 5) -> list[tuple]:
    """(rank, title, reason) of the user's current recommendations."""
    return con.execute(
        "select recommendations.rank, items.title, recommendations.reason from recommendations"
        " inner join int_items_clean as items on recommendations.item_id = items.item_id"
        " where recommendations.user_id = ? and recommendations.rank <= ? order by recommendations.rank",
        [user, limit],
    ).fetchall()


def show(db: Path, *, user_count: int = 3, user_ids: Sequence[str] = ()) -> str:
    with duckdb.connect(str(db), read_only=True) as con:
        version = warehouse.registered_model(con).version
        rows = con.execute(
            "select model_version, snapshot, method, metric, k, value, ci95_low, ci95_high"
            " from model_metrics where model_version = ?",
            [version],
        ).fetchall()
        out = [
            f"Model {version} on the test snapshot, over every test user with labels:",
            metrics_table(rows),
        ]
        if not warehouse.table_exists(con, "recommendations"):
            out.append("\n(no recommendations yet: run `recsql score`)")
            return "\n".join(out)
        for user in list(user_ids) or chosen_users(con, user_count):
            history = user_history(con, user)
            recommended = user_top(con, user)
            out.append(f"\nUser {user}")
            width = max([len(title) for _, title in history] + [20]) + 14
            out.append(f"  {'recent history':<{width}}top 5 now")
            for line in range(max(len(history), len(recommended))):
                left = f"{history[line][0]}  {history[line][1]}" if line < len(history) else ""
                right = (
                    f"{recommended[line][0]}. {recommended[line][1]}  ({recommended[line][2]})"
                    if line < len(recommended)
                    else ""
                )
                out.append(f"  {left:<{width}}{right}")
    return "\n".join(out)


def write_report(db: Path, out: Path, *, user_count: int = 3, show_progress: bool = False) -> Path:
    """Render the HTML report of ``db`` into ``out`` (replaced atomically) and return it."""
    from recsql import report_page

    page = report_page.render(db, user_count=user_count, show_progress=show_progress)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.part")
    partial.write_text(page, encoding="utf-8")
    partial.replace(out)
    return out
