"""A log shaped like the public rating data sets (MovieLens): the whole loop on it, by vars only.

Ratings instead of purchases, integer ids, epoch seconds, CSV files under other names, a
catalog with titles and genres but no prices, brands or descriptions, and no users file.
"""

from __future__ import annotations

import duckdb
import numpy as np

from recsql.scoring import score_serve_snapshot
from recsql.training import train_ranker
from tests.conftest import Warehouse

GENRES = ["Comedy", "Drama", "Horror", "Sci-Fi", "Romance", "Documentary"]
NOUNS = ["Night", "River", "Star", "Garden", "Machine", "Letter", "Island", "Winter"]


def write_movielens_like(folder, users: int = 150, movies: int = 120, seed: int = 3) -> None:
    """ratings.csv (userId, movieId, rating, timestamp) and movies.csv (movieId, title, genres);
    users like two genres and rate those films higher."""
    rng = np.random.default_rng(seed)
    genre = rng.integers(0, len(GENRES), movies)
    liked = np.stack([rng.choice(len(GENRES), 2, replace=False) for _ in range(users)])
    start = 1_600_000_000  # 2020-09-13, epoch seconds
    rows = []
    for user in range(users):
        for movie in rng.choice(movies, size=int(rng.integers(8, 30)), replace=False):
            likes = genre[movie] in liked[user]
            rating = float(np.clip(rng.normal(4.2 if likes else 2.6, 0.7), 0.5, 5.0).round() or 1)
            when = start + int(rng.integers(0, 200 * 86_400))
            rows.append((user + 1, int(movie) + 1, rating, when))
    films = [
        (m + 1, f"The {NOUNS[m % len(NOUNS)]} of {m} ({2000 + m % 20})", GENRES[genre[m]])
        for m in range(movies)
    ]
    with duckdb.connect() as con:
        con.execute("create table r (userId int, movieId int, rating double, timestamp bigint)")
        con.executemany("insert into r values (?, ?, ?, ?)", rows)
        con.execute(f"copy r to '{folder / 'ratings.csv'}' (header)")
        con.execute("create table m (movieId int, title varchar, genres varchar)")
        con.executemany("insert into m values (?, ?, ?)", films)
        con.execute(f"copy m to '{folder / 'movies.csv'}' (header)")


def test_a_ratings_log_runs_the_whole_loop_with_vars_only(new_warehouse: Warehouse) -> None:
    write_movielens_like(new_warehouse.raw)
    new_warehouse.build(
        vars={
            "interactions_path": str(new_warehouse.raw / "ratings.csv"),
            "items_path": str(new_warehouse.raw / "movies.csv"),
            "users_path": False,
            "interactions_columns": {
                "user_id": "userId",
                "item_id": "movieId",
                "event_ts": "timestamp",
                "rating": "rating",
                "event_type": None,
                "quantity": None,
                "price": None,
                "order_id": None,
            },
            "items_columns": {
                "item_id": "movieId",
                "title": "title",
                "category": "genres",
                "description": None,
                "brand": None,
                "price": None,
                "created_at": None,
            },
            "label_min_rating": 4,
        }
    )
    raw = new_warehouse.query("select count(*) from stg_interactions")[0][0]
    kept, rejected = new_warehouse.query(
        "select (select count(*) from int_interactions_clean),"
        " (select count(*) from int_interactions_rejected)"
    )[0]
    assert kept + rejected == raw and kept > 0.95 * raw
    low_rated_labels = new_warehouse.query(
        """
        select count(*) from int_labels as labels
        inner join int_interactions_clean as events
            on labels.user_id = events.user_id and labels.item_id = events.item_id
        inner join int_snapshots as snapshots on labels.snapshot = snapshots.snapshot
        where events.event_ts >= snapshots.cutoff_ts and events.event_ts < snapshots.label_end_ts
        group by labels.snapshot, labels.user_id, labels.item_id
        having max(events.rating) < 4
        """
    )
    assert low_rated_labels == []  # a film rated below 4 is not something to recommend
    assert new_warehouse.query("select count(*) from int_item_embeddings") == [(120,)]

    with new_warehouse.env():
        trained = train_ranker(new_warehouse.db, rounds=50, seed=1, show_progress=False)
        run = score_serve_snapshot(new_warehouse.db, top_k=5)
    methods = {
        row[2] for row in trained.metrics if row[3] == "ndcg"
    }  # (version, snapshot, method, metric, ...)
    assert {"ranker", "popularity_recent", "gen_content"} <= methods
    assert (
        run.users
        == new_warehouse.query(
            "select count(distinct user_id) from fct_candidates where split = 'serve'"
        )[0][0]
    )
    assert run.rows == 5 * run.users
