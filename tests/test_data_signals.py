"""The data's own signals reach the ranker: rating values as features, multi-valued categories
split by a var, and a ratings log (nobody rates a film twice) served only unseen items."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from recsql.scoring import score_serve_snapshot
from recsql.training import train_ranker
from tests.conftest import Warehouse

GENRES = ["Comedy", "Drama", "Horror", "Sci-Fi", "Romance"]


@pytest.fixture(scope="module")
def films(tmp_path_factory, embedding_cache) -> Warehouse:
    """ratings.csv and movies.csv with two genres per film ('Comedy|Drama'); users rate the
    films of the genres they like higher, each film at most once."""
    warehouse = Warehouse(tmp_path_factory.mktemp("films"), embedding_cache)
    warehouse.raw.mkdir()
    rng = np.random.default_rng(5)
    movies, users = 90, 120
    genres = [rng.choice(len(GENRES), 2, replace=False) for _ in range(movies)]
    start = 1_600_000_000
    rows = []
    for user in range(users):
        liked = rng.choice(len(GENRES), 2, replace=False)
        for movie in rng.choice(movies, size=int(rng.integers(10, 30)), replace=False):
            likes = bool(set(genres[movie]) & set(liked))
            rating = float(np.clip(round(rng.normal(4.2 if likes else 2.4, 0.6)), 1, 5))
            rows.append(
                (user + 1, int(movie) + 1, rating, start + int(rng.integers(0, 150 * 86_400)))
            )
    catalog = [
        (m + 1, f"Film number {m}", "|".join(GENRES[g] for g in genres[m])) for m in range(movies)
    ]
    with duckdb.connect() as con:
        con.execute("create table r (userId int, movieId int, rating double, ts bigint)")
        con.executemany("insert into r values (?, ?, ?, ?)", rows)
        con.execute(f"copy r to '{warehouse.raw / 'ratings.csv'}' (header)")
        con.execute("create table m (movieId int, title varchar, genres varchar)")
        con.executemany("insert into m values (?, ?, ?)", catalog)
        con.execute(f"copy m to '{warehouse.raw / 'movies.csv'}' (header)")
    warehouse.build(
        vars={
            "interactions_path": str(warehouse.raw / "ratings.csv"),
            "items_path": str(warehouse.raw / "movies.csv"),
            "users_path": False,
            "interactions_columns": {
                "user_id": "userId", "item_id": "movieId", "event_ts": "ts", "rating": "rating",
                "event_type": None, "quantity": None, "price": None, "order_id": None,
            },
            "items_columns": {
                "item_id": "movieId", "category": "genres", "description": None, "brand": None,
                "price": None, "created_at": None,
            },
            "category_separator": "|",
        }
    )  # fmt: skip
    return warehouse


def test_multi_valued_categories_are_split_by_the_separator(films) -> None:
    [(categories,)] = films.query(
        "select list(category order by category) from int_item_categories where item_id = '1'"
    )
    [(raw,)] = films.query("select category from int_items_clean where item_id = '1'")
    assert categories == sorted(raw.split("|")) and len(categories) == 2
    assert films.query(
        "select count(*) from int_user_category_affinity where category like '%|%'"
    ) == [(0,)]
    shown = films.query("select distinct category from fct_candidates where item_id = '1'")
    assert shown == [(", ".join(raw.split("|")),)]


def test_rating_values_become_point_in_time_features(films) -> None:
    rows = films.query(
        """
        with expected as (
            select snapshots.snapshot, events.item_id, avg(events.rating) as mean, count(*) as n
            from int_interactions_clean as events
            inner join int_snapshots as snapshots on events.event_ts < snapshots.cutoff_ts
            group by snapshots.snapshot, events.item_id
        )
        select count(*), count(*) filter (
            where abs(features.item_rating_mean - expected.mean) > 1e-9
            or features.item_rating_count <> expected.n)
        from (select distinct snapshot, item_id, item_rating_mean, item_rating_count
              from fct_candidates) as features
        inner join expected using (snapshot, item_id)
        """
    )
    assert rows[0][0] > 100 and rows[0][1] == 0, rows
    assert films.query(
        "select count(*) from fct_candidates where user_rating_mean is null and user_events > 0"
    ) == [(0,)]


def test_a_ratings_log_is_served_only_films_not_yet_rated(films) -> None:
    [(exclude,)] = films.query("select exclude_seen from int_seen_policy")
    assert exclude
    with films.env():
        train_ranker(films.db, rounds=50, seed=1, show_progress=False)
        run = score_serve_snapshot(films.db, top_k=10)
    assert run.seen.exclude and "auto" in run.seen.why
    rated_again = films.query(
        "select count(*) from recommendations inner join int_interactions_clean as events"
        " using (user_id, item_id)"
    )
    assert rated_again == [(0,)] and run.rows > 0
