"""The data's own signals reach the ranker: rating values as features, multi-valued categories
split by a var, user and item attributes mapped by vars (categorical and numeric), and a
ratings log (nobody rates a film twice) served only unseen items."""

from __future__ import annotations

import json

import duckdb
import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pytest

from recsql.ranking_data import feature_matrix
from recsql.scoring import score_serve_snapshot
from recsql.training import train_ranker
from tests.conftest import Warehouse

GENRES = ["Comedy", "Drama", "Horror", "Sci-Fi", "Romance"]
AGE_BANDS = ["18-24", "25-34", "35-49", "50+"]


@pytest.fixture(scope="module")
def films(tmp_path_factory, embedding_cache) -> Warehouse:
    """ratings.csv, movies.csv (two genres per film, 'Comedy|Drama', and a release year) and
    users.csv (an age band that sets one liked genre); users rate the films of the genres they
    like higher, each film at most once."""
    warehouse = Warehouse(tmp_path_factory.mktemp("films"), embedding_cache)
    warehouse.raw.mkdir()
    rng = np.random.default_rng(5)
    movies, users = 90, 120
    genres = [rng.choice(len(GENRES), 2, replace=False) for _ in range(movies)]
    start = 1_600_000_000
    years = rng.integers(1950, 2020, size=movies)
    bands = rng.integers(0, len(AGE_BANDS), size=users)
    rows = []
    for user in range(users):
        liked = [bands[user], int(rng.integers(len(GENRES)))]
        for movie in rng.choice(movies, size=int(rng.integers(10, 30)), replace=False):
            likes = bool(set(genres[movie]) & set(liked))
            rating = float(np.clip(round(rng.normal(4.2 if likes else 2.4, 0.6)), 1, 5))
            rows.append(
                (user + 1, int(movie) + 1, rating, start + int(rng.integers(0, 150 * 86_400)))
            )
    catalog = [
        (
            m + 1,
            f"Film number {m}",
            "|".join(GENRES[g] for g in genres[m]),
            f" {years[m]} ",
            "no" if (m + 1) % 7 == 0 else "yes",
        )
        for m in range(movies)
    ]
    with duckdb.connect() as con:
        con.execute("create table r (userId int, movieId int, rating double, ts bigint)")
        con.executemany("insert into r values (?, ?, ?, ?)", rows)
        con.execute(f"copy r to '{warehouse.raw / 'ratings.csv'}' (header)")
        con.execute(
            "create table m (movieId int, title varchar, genres varchar, year varchar,"
            " in_stock varchar)"
        )
        con.executemany("insert into m values (?, ?, ?, ?, ?)", catalog)
        con.execute(f"copy m to '{warehouse.raw / 'movies.csv'}' (header)")
        con.execute('create table u (userId int, "Age band" varchar)')
        con.executemany(
            "insert into u values (?, ?)", [(u + 1, AGE_BANDS[b]) for u, b in enumerate(bands)]
        )
        con.execute(f"copy u to '{warehouse.raw / 'users.csv'}' (header)")
    warehouse.build(
        vars={
            "interactions_path": str(warehouse.raw / "ratings.csv"),
            "items_path": str(warehouse.raw / "movies.csv"),
            "users_path": str(warehouse.raw / "users.csv"),
            "users_columns": {"user_id": "userId", "signup_date": None, "segment": None},
            "user_attributes": ["Age band"],
            "item_attributes": ["genres"],
            "item_numeric_attributes": ["year"],
            "interactions_columns": {
                "user_id": "userId", "item_id": "movieId", "event_ts": "ts", "rating": "rating",
                "event_type": None, "quantity": None, "price": None, "order_id": None,
            },
            "items_columns": {
                "item_id": "movieId", "category": "genres", "description": None, "brand": None,
                "price": None, "created_at": None, "available": "in_stock",
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


def test_mapped_attributes_reach_fct_candidates_with_their_kind(films) -> None:
    kinds = dict(films.query("select feature_name, kind from ranker_features"))
    assert kinds["user_attr_age_band"] == "categorical"
    assert kinds["item_attr_genres"] == "categorical"
    assert kinds["item_num_year"] == "numeric" and kinds["item_events_30d"] == "numeric"
    wrong = films.query(
        """
        select count(*) from fct_candidates
        inner join read_csv('{users}') as u on fct_candidates.user_id = cast(u.userId as varchar)
        inner join read_csv('{movies}', all_varchar = true) as m
            on fct_candidates.item_id = m.movieId
        where fct_candidates.user_attr_age_band is distinct from u."Age band"
            or fct_candidates.item_attr_genres is distinct from m.genres
            or fct_candidates.item_num_year is distinct from cast(trim(m.year) as double)
        """.format(users=films.raw / "users.csv", movies=films.raw / "movies.csv")
    )
    assert wrong == [(0,)]
    assert films.query("select count(*) from fct_candidates where user_attr_age_band is null") == [
        (0,)
    ]


def test_categorical_attributes_are_coded_as_the_model_learnt_them(films) -> None:
    with films.env():
        result = train_ranker(films.db, rounds=40, seed=3, show_progress=False)
    metadata = json.loads((result.model_dir / "metadata.json").read_text())
    assert metadata["categories"]["user_attr_age_band"] == sorted(AGE_BANDS)
    assert "item_num_year" not in metadata["categories"]
    booster = lgb.Booster(model_file=str(result.model_dir / "model.txt"))
    infos = booster.dump_model()["feature_infos"]
    # a categorical feature lists the codes it saw; a numeric one only its range
    assert set(infos["user_attr_age_band"]["values"]) >= set(range(len(AGE_BANDS)))
    assert infos["item_num_year"]["values"] == [] and infos["item_num_year"]["min_value"] >= 1950
    table = pa.table(
        {"user_attr_age_band": ["35-49", "unheard of", None], "item_num_year": [1999.0, None, 1.0]}
    )
    matrix = feature_matrix(table, ["user_attr_age_band", "item_num_year"], metadata["categories"])
    assert matrix[0, 0] == sorted(AGE_BANDS).index("35-49")
    assert np.isnan(matrix[1, 0]) and np.isnan(matrix[2, 0]) and np.isnan(matrix[1, 1])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"user_attributes": ["Age band", "shoe size"]}, "names column 'shoe size'"),
        ({"users_path": False}, "user_attributes names columns of the users file"),
        ({"item_numeric_attributes": "year"}, "must be a list of column names"),
    ],
)
def test_attribute_vars_that_cannot_work_stop_the_build_naming_why(films, change, message):
    variables = {
        "interactions_path": str(films.raw / "ratings.csv"),
        "items_path": str(films.raw / "movies.csv"),
        "users_path": str(films.raw / "users.csv"),
        "users_columns": {"user_id": "userId", "signup_date": None, "segment": None},
        "interactions_columns": {"user_id": "userId", "item_id": "movieId", "event_ts": "ts"},
        "items_columns": {"item_id": "movieId", "category": "genres"},
        "user_attributes": ["Age band"],
        **change,
    }
    with pytest.raises(AssertionError, match=message):
        films.dbt("compile", "--select", "stg_users", "stg_items", vars=variables)


def test_the_users_rating_of_related_items_is_a_point_in_time_feature(films) -> None:
    """user_item_category_rating: the user's mean rating in the item's categories (each
    category's mean, averaged), less the user's own mean rating, from events before the cutoff."""
    rows = films.query(
        """
        with visible as (
            select snapshots.snapshot, events.user_id, events.item_id, events.rating
            from int_interactions_clean as events
            inner join int_snapshots as snapshots on events.event_ts < snapshots.cutoff_ts
        ),
        per_category as (
            select visible.snapshot, visible.user_id, categories.category, avg(rating) as mean
            from visible inner join int_item_categories as categories using (item_id)
            group by all
        ),
        per_user as (select snapshot, user_id, avg(rating) as mean from visible group by all),
        expected as (
            select features.snapshot, features.user_id, features.item_id,
                avg(per_category.mean) - any_value(per_user.mean) as value,
                any_value(features.user_item_category_rating) as actual
            from (select distinct snapshot, user_id, item_id, user_item_category_rating
                  from fct_candidates) as features
            inner join int_item_categories as categories using (item_id)
            inner join per_category using (snapshot, user_id, category)
            inner join per_user using (snapshot, user_id)
            group by all
        )
        select count(*), count(*) filter (where abs(actual - value) > 1e-9 or actual is null)
        from expected
        """
    )
    assert rows[0][0] > 100 and rows[0][1] == 0, rows


def test_items_marked_unavailable_are_never_served_but_stay_in_history(films) -> None:
    """items_columns: {available: in_stock}: today's stock flag removes films from the serve
    snapshot's candidates only; train and test keep them (they were on offer then)."""
    [(flagged,)] = films.query("select count(*) from int_items_clean where available = false")
    assert flagged == 90 // 7
    by_split = dict(
        films.query(
            "select split, count(*) from fct_candidates inner join int_items_clean using (item_id)"
            " where int_items_clean.available = false group by split"
        )
    )
    assert by_split.get("serve", 0) == 0 and by_split.get("train", 0) > 0


def test_drift_counts_every_row_once_into_its_bins(films) -> None:
    """monitor_feature_drift: each feature's bins hold every row of the reference (test) and the
    serve snapshot once; a categorical feature's bins are its values, plus one for nulls."""
    [(reference, serve, genres, age_bands)] = films.query(
        """
        select count(*) filter (where split <> 'serve'), count(*) filter (where split = 'serve'),
            count(distinct item_attr_genres) + max(case when item_attr_genres is null then 1 else 0 end),
            count(distinct user_attr_age_band) + max(case when user_attr_age_band is null then 1 else 0 end)
        from fct_candidates where split = 'serve' or snapshot = 'test'
        """
    )
    drift = {
        name: (kind, rows, bins)
        for name, kind, *rows, bins in films.query(
            "select feature_name, kind, reference_rows, serve_rows, bins from monitor_feature_drift"
        )
    }
    assert drift["item_attr_genres"] == ("categorical", [reference, serve], genres)
    assert drift["user_attr_age_band"] == ("categorical", [reference, serve], age_bands)
    assert genres > 3 and reference > 0 and serve > 0
    for name, (kind, rows, bins) in drift.items():
        assert rows == [reference, serve], name
        if kind == "numeric":
            assert 1 <= bins <= 11, name  # monitor_drift_bins (10) and the nulls'
