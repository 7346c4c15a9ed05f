"""Collaborative candidates (item-kNN, EASE) and the seen-items policy, on known answers.

A taste-group shop: users buy from one of two groups of items, each item once (no re-buys, like
a ratings log). Whatever a user has not had yet from their group is what they buy next, so
collaborative neighbours over the whole history must find it, and seen items must be left out
automatically.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pytest

from recsql.ranking_data import rank_within_user
from tests.conftest import Warehouse, copy_warehouse, python_model

GROUPS, ITEMS_PER_GROUP, USERS = 4, 15, 120  # 60 items: popularity's 30 cannot hold them all


def load_ease_model():
    return python_model("intermediate/candidates/int_candidates_ease.py")


def group_of(item: str) -> int:
    return int(item.split("-")[0][1:])


@pytest.fixture(scope="module")
def taste_shop(tmp_path_factory, embedding_cache) -> Warehouse:
    warehouse = Warehouse(tmp_path_factory.mktemp("taste-shop"), embedding_cache)
    warehouse.raw.mkdir()
    rng = np.random.default_rng(11)
    start = datetime(2025, 1, 1)
    events = []
    for user in range(USERS):
        group = user % GROUPS
        items = rng.permutation(ITEMS_PER_GROUP)  # each item of the group once, over 200 days
        days = np.sort(rng.uniform(0, 200, size=len(items)))
        for item, day in zip(items, days, strict=True):
            when = start + timedelta(days=float(day))
            events.append((f"u{user:03d}", f"g{group}-{item:02d}", when, f"o{user}-{day:.3f}"))
    catalog = [
        (f"g{group}-{item:02d}", f"article {group * 100 + item}")
        for group in range(GROUPS)
        for item in range(ITEMS_PER_GROUP)
    ]
    with duckdb.connect() as con:
        con.execute(
            "create table e (user_id varchar, item_id varchar, event_ts timestamp, order_id varchar)"
        )
        con.executemany("insert into e values (?, ?, ?, ?)", events)
        con.execute(f"copy e to '{warehouse.raw / 'interactions.parquet'}' (format parquet)")
        con.execute("create table i (item_id varchar, title varchar)")
        con.executemany("insert into i values (?, ?)", catalog)
        con.execute(f"copy i to '{warehouse.raw / 'items.parquet'}' (format parquet)")
    warehouse.build(
        vars={
            "users_path": False,
            "interactions_columns": {"event_type": None, "quantity": None, "price": None, "rating": None},
            "items_columns": {"description": None, "category": None, "brand": None, "price": None, "created_at": None},
        }
    )  # fmt: skip
    return warehouse


def test_a_log_without_re_buys_leaves_seen_items_out_automatically(taste_shop) -> None:
    [(exclude, share, decided_by)] = taste_shop.query(
        "select exclude_seen, rebuy_share, decided_by from int_seen_policy"
    )
    assert (exclude, share, decided_by) == (True, 0.0, "auto")
    assert taste_shop.query("select count(*) from fct_candidates where is_seen") == [(0,)]
    assert taste_shop.query("select count(*) from fct_candidates")[0][0] > 0
    from recsql.summary import format_summary, summarise_build

    assert (
        "Items users already had: left out of the candidates (auto; re-buys are 0% of the train"
        in format_summary(summarise_build(taste_shop.db))
    )


def test_a_shop_of_re_buys_keeps_seen_items(demo_warehouse) -> None:
    [(exclude, share)] = demo_warehouse.query(
        "select exclude_seen, rebuy_share from int_seen_policy"
    )
    assert not exclude and share > 0.1, share
    assert demo_warehouse.query("select count(*) > 0 from fct_candidates where is_seen") == [
        (True,)
    ]


@pytest.mark.parametrize("generator", ["item_knn", "ease"])
def test_collaborative_generators_propose_items_of_the_users_taste(taste_shop, generator) -> None:
    rows = taste_shop.query(
        f"select user_id, item_id from int_candidates_{generator}"
        " where snapshot = 'test' and generator_rank <= 10"
    )
    assert len(rows) > 100, len(rows)
    same_group = np.mean([group_of(item) == int(user[1:]) % GROUPS for user, item in rows])
    assert same_group > 0.95, same_group


def test_collaborative_generators_recall_more_than_popularity(taste_shop) -> None:
    recall = dict(
        taste_shop.query("select generator, recall from candidate_recall where snapshot = 'test'")
    )
    assert recall["item_knn"] > 0.9 and recall["ease"] > 0.9, recall
    assert min(recall["item_knn"], recall["ease"]) > recall["popular_recent"], recall


def test_item_knn_similarity_is_the_shrunk_cosine_of_shared_users(demo_warehouse) -> None:
    # recomputed independently, in numpy, from the user-item sets the model reads
    pairs = demo_warehouse.query(
        "select user_id, item_id from int_user_item_sets where snapshot = 'test'"
    )
    users = {}
    for user, item in pairs:
        users.setdefault(item, set()).add(user)
    rows = demo_warehouse.query(
        "select item_id, neighbour_item_id, similarity from int_item_knn where snapshot = 'test'"
        " order by hash(item_id, neighbour_item_id) limit 50"
    )
    assert len(rows) == 50
    for item, neighbour, similarity in rows:
        both = len(users[item] & users[neighbour])
        expected = both / (np.sqrt(len(users[item]) * len(users[neighbour])) + 5)
        assert similarity == pytest.approx(expected), (item, neighbour)


def test_ease_weights_are_each_items_ridge_regression_on_the_others() -> None:
    from scipy import sparse

    ease = load_ease_model()
    rng = np.random.default_rng(0)
    matrix = (rng.random((40, 6)) < 0.4).astype(np.float64)
    weights = ease.ease_weights(sparse.csr_matrix(matrix), regularisation=2.0)
    assert np.allclose(np.diag(weights), 0.0)
    assert weights.flags.c_contiguous  # scipy's sparse @ dense would copy it on every batch
    for item in range(6):
        others = [column for column in range(6) if column != item]
        x = matrix[:, others]
        ridge = np.linalg.solve(x.T @ x + 2.0 * np.eye(5), x.T @ matrix[:, item])
        assert np.allclose(weights[others, item], ridge, atol=1e-5), item


def test_ease_keeps_each_rows_best_positive_scores_in_order() -> None:
    ease = load_ease_model()
    scores = np.array([[0.1, 0.9, -0.2, 0.5], [0.0, -1.0, 0.3, 0.3]])
    rows, columns, values = ease.top_items(scores, 3)
    assert rows.tolist() == [0, 0, 0, 1, 1]
    assert columns.tolist() == [1, 3, 0, 2, 3]  # ties by column; zero and negative scores dropped
    assert rank_within_user(rows).tolist() == [1, 2, 3, 1, 2]


def test_ease_breaks_ties_at_the_last_place_by_column_and_skips_left_out_items() -> None:
    ease = load_ease_model()
    scores = np.array(
        [[0.2, 0.5, 0.2, 0.9, 0.2], [-np.inf, 0.4, 0.2, -np.inf, 0.2]], dtype=np.float32
    )
    rows, columns, values = ease.top_items(scores, 3)
    assert rows.tolist() == [0, 0, 0, 1, 1, 1]
    assert columns.tolist() == [3, 1, 0, 1, 2, 4]
    assert values.dtype == np.float32
    assert [len(part) for part in ease.top_items(scores[:0], 3)] == [0, 0, 0]


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("candidates_item_knn", "50 or true", "candidates_item_knn must be a whole number"),
        ("item_knn_shrink", "5) or (1 = 1", "item_knn_shrink must be a number"),
        ("train_snapshots", "3; drop table x", "train_snapshots must be a whole number"),
        ("test_cutoff", "2025-06-01' as timestamp) or ('1", "test_cutoff must be a date"),
        ("exclude_seen_below", "0.1 or 1 = 1", "exclude_seen_below must be a number"),
        ("category_separator", ["|"], "category_separator must be text"),
        ("exclude_seen", "yes", "exclude_seen must be true or false"),
    ],
)
def test_knobs_of_candidates_and_snapshots_refuse_pasted_sql(
    new_warehouse: Warehouse, var: str, value: object, message: str
) -> None:
    with pytest.raises(AssertionError) as failure:
        new_warehouse.dbt(
            "compile",
            "--select", "int_snapshots int_candidates_item_knn int_seen_policy int_item_categories",
            vars={var: value},
        )  # fmt: skip
    assert message in str(failure.value)


def test_when_seen_items_are_left_out_the_truth_and_popularity_leave_them_out_too(
    taste_shop, tmp_path
) -> None:
    from recsql.training import train_ranker
    from tests.conftest import copy_warehouse

    shop = copy_warehouse(taste_shop, tmp_path)
    with shop.env():
        train_ranker(shop.db, rounds=30, seed=1, show_progress=False)
    # recall@20 of recent popularity over new items only, recomputed independently in SQL
    (expected,) = shop.query(
        """
        with seen as (
            select user_id, item_id from int_user_item_history where snapshot = 'test'
        ),
        truth as (
            select labels.user_id, labels.item_id from int_labels as labels
            where labels.snapshot = 'test'
            and not exists (select 1 from seen where seen.user_id = labels.user_id
                            and seen.item_id = labels.item_id)
        ),
        popular as (
            select popularity.item_id, row_number() over (order by events_7d desc,
                events_30d desc, popularity.item_id) as position
            from int_item_popularity as popularity
            inner join int_available_items as available
                on popularity.snapshot = available.snapshot and popularity.item_id = available.item_id
            where popularity.snapshot = 'test'
        ),
        shown as (
            select users.user_id, popular.item_id, row_number() over (
                partition by users.user_id order by popular.position) as rank
            from (select distinct user_id from truth) as users cross join popular
            where not exists (select 1 from seen where seen.user_id = users.user_id
                              and seen.item_id = popular.item_id)
        ),
        per_user as (
            select truth.user_id, count(shown.item_id) / count(*) as recall
            from truth left join shown on truth.user_id = shown.user_id
                and truth.item_id = shown.item_id and shown.rank <= 20
            group by truth.user_id
        )
        select avg(recall) from per_user
        """
    )[0]
    [(measured,)] = shop.query(
        "select value from model_metrics where method = 'popularity_recent'"
        " and metric = 'recall' and k = 20"
    )
    assert measured == pytest.approx(expected) and expected > 0


def test_candidate_recall_counts_new_items_only_when_seen_items_are_left_out(
    demo_warehouse, tmp_path
) -> None:
    recall_sql = "select snapshot, generator, hits, label_items from candidate_recall"
    kept = {(s, g): (hits, labels) for s, g, hits, labels in demo_warehouse.query(recall_sql)}
    assert kept[("test", "repurchase")][0] > 0  # the demo's re-buys are found by repurchase
    copy = copy_warehouse(demo_warehouse, tmp_path)
    copy.build(vars={"exclude_seen": True}, select="int_seen_policy candidate_recall")
    left_out = {(s, g): (hits, labels) for s, g, hits, labels in copy.query(recall_sql)}
    new_labels = copy.query(
        "select count(*) from int_labels as labels left join int_user_item_history as history"
        " using (snapshot, user_id, item_id) where labels.snapshot = 'test' and history.item_id is null"
    )[0][0]
    # repurchase proposes only items users had: nothing is left of it (a generator with no
    # candidates has no row)
    assert left_out.get(("test", "repurchase"), (0, new_labels)) == (0, new_labels)
    assert left_out[("test", "union")][1] == new_labels
    assert 0 < new_labels < kept[("test", "union")][1]
    assert 0 < left_out[("test", "union")][0] < kept[("test", "union")][0]


RANKED_PER_USER = ["popular", "popular_category", "covisit", "item_knn", "ease"]


def test_when_seen_items_are_left_out_generators_fill_their_slots_with_new_items(
    demo_warehouse, tmp_path
) -> None:
    """Each generator ranks the items the user never had, so none of its top-k is wasted on
    an item that is dropped later (before: 6 of EASE's 50 survived on a grocery log)."""
    proposals = " union all ".join(
        f"select snapshot, user_id, item_id, generator, generator_rank from int_candidates_{name}"
        for name in RANKED_PER_USER
    )
    new_items_sql = (
        f"select generator, count(*) from ({proposals}) as proposed"
        " left join int_user_item_history as history using (snapshot, user_id, item_id)"
        " where history.item_id is null group by generator"
    )
    kept = dict(demo_warehouse.query(new_items_sql))
    copy = copy_warehouse(demo_warehouse, tmp_path)
    copy.build(
        vars={"exclude_seen": True},
        select="int_seen_policy int_ease_inputs "
        + " ".join(f"int_candidates_{name}" for name in RANKED_PER_USER),
    )
    left_out = dict(copy.query(new_items_sql))
    seen = copy.query(
        f"select count(*) from ({proposals}) as proposed"
        " inner join int_user_item_history as history using (snapshot, user_id, item_id)"
    )
    assert seen == [(0,)]
    assert set(left_out) == set(kept)
    for generator, count in left_out.items():
        assert count > kept[generator], (generator, count, kept[generator])
    # ranks run 1..n for every user: nothing ranked and then dropped
    gaps = copy.query(
        f"select generator, count(*) from (select snapshot, user_id, generator,"
        f" max(generator_rank) as top, count(*) as n from ({proposals}) as proposed"
        " group by all) as per_user where top <> n group by generator"
    )
    assert gaps == []
    # every user gets a full list of best sellers they never had
    short = copy.query(
        "select generator, count(*) from (select snapshot, user_id, generator, count(*) as n"
        " from int_candidates_popular group by all) as per_user where n < 30 group by generator"
    )
    assert short == []
