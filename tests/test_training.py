"""recsql train on a real dbt-built demo warehouse, with real LightGBM."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pytest

from recsql import warehouse as warehouse_db
from recsql.ranking_data import (
    RankingData,
    TrainingError,
    group_sizes_in_row_order,
    key_array,
    load_keys,
    load_split,
    predict_split,
)
from recsql.training import DEFAULT_PARAMS, booster_params, dataset, train_ranker
from tests.conftest import Warehouse, copy_warehouse


def test_group_sizes_follow_the_row_order_not_the_user_id_order() -> None:
    snapshots = np.array(["train"] * 5)
    users = np.array(["u2", "u2", "u2", "u1", "u1"])  # u2 first, as the rows arrive
    assert group_sizes_in_row_order(snapshots, users).tolist() == [3, 2]  # not sorted by id: [2, 3]
    assert group_sizes_in_row_order(
        np.array(["train", "test"]), np.array(["u1", "u1"])
    ).tolist() == [1, 1]


def test_key_arrays_hold_each_id_once_and_keep_row_order() -> None:
    chunks = [pa.array(["u2", "u1", "u2"]), pa.array(["u1", "u3"])]
    keys = key_array(chunks)
    assert keys.tolist() == ["u2", "u1", "u2", "u1", "u3"]
    assert keys[0] is keys[2] and keys[1] is keys[3]  # one string object per distinct id
    assert key_array([pa.array([7, None, 7])]).tolist() == [7, None, 7]
    assert key_array([]).tolist() == []


def test_a_dataset_of_several_row_sets_is_the_dataset_of_their_rows_one_after_another() -> None:
    rng = np.random.default_rng(0)

    def split(name: str, rows: int) -> RankingData:
        features = np.asarray(rng.normal(size=(rows, 3)), dtype=np.float32)
        users = np.array([f"u{i // 20}" for i in range(rows)], dtype=object)
        items = np.array([f"i{i}" for i in range(rows)], dtype=object)
        labels = (features[:, 0] + rng.normal(scale=0.5, size=rows) > 1).astype(np.int32)
        return RankingData(features, labels, np.array([name] * rows, dtype=object), users, items)

    train, test = split("train", 700), split("test", 500)
    params = {**DEFAULT_PARAMS, "min_data_in_leaf": 20, "seed": 1}
    gathered = RankingData(
        np.concatenate([train.features, test.features]),
        *(np.concatenate([getattr(train, name), getattr(test, name)])
          for name in ("labels", "snapshots", "users", "items")),
    )  # fmt: skip
    parts = dataset([train, test], ["a", "b", "c"], params)
    whole = dataset(gathered, ["a", "b", "c"], params)
    assert parts.get_group().tolist() == whole.get_group().tolist() == [20] * 60
    assert parts.get_label().tolist() == whole.get_label().tolist()
    models = [lgb.train(booster_params(params), d, num_boost_round=5) for d in (parts, whole)]
    assert models[0].model_to_string() == models[1].model_to_string()


def test_a_run_of_rows_is_a_view_and_scattered_rows_a_copy() -> None:
    """The rows that choose the rounds (one snapshot) and those a fit learns from (the others)
    are runs of the rows sorted by snapshot: LightGBM gets them without a copy."""
    rows = 10
    data = RankingData(
        np.arange(rows * 3, dtype=np.float32).reshape(rows, 3),
        np.arange(rows, dtype=np.int32),
        *(np.array([f"{name}{i}" for i in range(rows)], dtype=object) for name in "sui"),
    )
    run = np.zeros(rows, dtype=bool)
    run[3:7] = True
    view = data.subset(run)
    assert np.shares_memory(view.features, data.features) and view.features.flags.c_contiguous
    assert view.labels.tolist() == [3, 4, 5, 6] and view.items.tolist() == ["i3", "i4", "i5", "i6"]
    np.testing.assert_array_equal(view.features, data.features[3:7])
    scattered = run.copy()
    scattered[8] = True
    copy = data.subset(scattered)
    assert not np.shares_memory(copy.features, data.features)
    assert copy.labels.tolist() == [3, 4, 5, 6, 8]
    assert len(data.subset(np.zeros(rows, dtype=bool)).labels) == 0


def test_shuffled_rows_are_refused_until_sorted_by_query() -> None:
    rng = np.random.default_rng(0)
    users = np.repeat(np.array(["a", "b", "c"]), [4, 2, 3])
    shuffled = users[rng.permutation(len(users))]
    with pytest.raises(TrainingError, match="not grouped by query"):
        group_sizes_in_row_order(np.array(["train"] * len(users)), shuffled)
    ordered = np.sort(shuffled, kind="stable")
    assert group_sizes_in_row_order(np.array(["train"] * len(users)), ordered).tolist() == [4, 2, 3]


def test_only_the_kept_rows_of_a_split_are_read_as_features(trained_warehouse) -> None:
    """Training reads the keys first and converts only the rows it learns from: those rows
    must be exactly the ones (keys, labels, features) a full read puts at the same places,
    whether fct_candidates is a table (features placed by row id) or a view (sorted whole)."""
    with warehouse_db.connect(trained_warehouse.db, read_only=True) as con:
        features = warehouse_db.ranker_features(con)[:5]
        whole = load_split(con, "train", features, positive_queries_only=True)
        keys = load_keys(con, "train", positive_queries_only=True)
        keep = np.random.default_rng(1).random(len(keys.labels)) < 0.3
        kept = load_split(con, "train", features, positive_queries_only=True, keep=keep)
        given = load_split(con, "train", features, positive_queries_only=True, keep=keep, keys=keys)
        with pytest.raises(TrainingError, match="do not match the"):
            load_split(con, "train", features, positive_queries_only=True, keep=keep[1:])
    with duckdb.connect() as con:  # fct_candidates as a view, like the tables of a Spark build
        con.execute(f"attach '{trained_warehouse.db}' as built (read_only)")
        con.execute("create view fct_candidates as select * from built.fct_candidates")
        viewed = load_split(con, "train", features, positive_queries_only=True, keep=keep)
    assert keys.features.shape == (len(whole.labels), 0) and (whole.labels > 0).any()
    for name in ("labels", "snapshots", "users", "items"):
        assert getattr(keys, name).tolist() == getattr(whole, name).tolist()
        assert getattr(kept, name).tolist() == getattr(whole, name)[keep].tolist()
        assert getattr(viewed, name).tolist() == getattr(kept, name).tolist()
        assert getattr(given, name).tolist() == getattr(kept, name).tolist()
    np.testing.assert_array_equal(kept.features, whole.features[keep])
    np.testing.assert_array_equal(given.features, kept.features)
    np.testing.assert_array_equal(viewed.features, kept.features)


def test_scores_predicted_as_the_rows_stream_are_those_of_the_whole_split(
    trained_warehouse,
) -> None:
    """The test snapshot is ranked block by block, never held whole: each score must be the
    one its row gets in one predict over the split read whole, at the row's place."""
    with warehouse_db.connect(trained_warehouse.db, read_only=True) as con:
        features = warehouse_db.ranker_features(con)[:5]
        whole = load_split(con, "test", features)
        booster = lgb.train(
            {"objective": "binary", "num_leaves": 7, "verbose": -1},
            lgb.Dataset(whole.features, label=whole.labels > 0),
            num_boost_round=5,
        )
        keys, scores = predict_split(con, booster, "test", features)
    with duckdb.connect() as con:  # a view streams nothing by row id: read whole, then predict
        con.execute(f"attach '{trained_warehouse.db}' as built (read_only)")
        con.execute("create view fct_candidates as select * from built.fct_candidates")
        viewed_keys, viewed_scores = predict_split(con, booster, "test", features)
    expected = booster.predict(whole.features)
    assert len(np.unique(expected)) > 10 and keys.features.shape == (len(whole.labels), 0)
    for name in ("labels", "snapshots", "users", "items"):
        assert getattr(keys, name).tolist() == getattr(whole, name).tolist()
        assert getattr(viewed_keys, name).tolist() == getattr(whole, name).tolist()
    np.testing.assert_array_equal(scores, expected)
    np.testing.assert_array_equal(viewed_scores, expected)


def metric(warehouse: Warehouse, method: str, name: str, k: int) -> float:
    rows = warehouse.query(
        "select value from model_metrics where method = ? and metric = ? and k = ?",
        [method, name, k],
    )
    assert len(rows) == 1, (method, name, k, rows)
    return rows[0][0]


def test_the_ranker_beats_recent_popularity_by_a_clear_margin_end_to_end(trained_warehouse) -> None:
    ranker = metric(trained_warehouse, "ranker", "ndcg", 10)
    popular = metric(trained_warehouse, "popularity_recent", "ndcg", 10)
    assert ranker > 2 * popular and ranker - popular > 0.1, (ranker, popular)
    assert metric(trained_warehouse, "ranker", "recall", 10) > 2 * metric(
        trained_warehouse, "popularity_recent", "recall", 10
    )


def test_the_ranker_is_at_least_as_good_as_each_generator_alone(trained_warehouse) -> None:
    ranker = metric(trained_warehouse, "ranker", "ndcg", 10)
    generators = trained_warehouse.query(
        "select method, value from model_metrics where method like 'gen_%' and metric = 'ndcg' and k = 10"
    )
    assert len(generators) >= 5
    for method, value in generators:
        assert ranker >= value - 0.01, (method, value, ranker)


def test_metrics_count_every_labelled_test_user_even_without_hits(trained_warehouse) -> None:
    # recall@20 of recent popularity, recomputed independently in SQL over all labelled users
    (expected,) = trained_warehouse.query(
        """
        with popular as (
            select popularity.item_id from int_item_popularity as popularity
            inner join int_available_items as available
                on popularity.snapshot = available.snapshot and popularity.item_id = available.item_id
            where popularity.snapshot = 'test'
            order by events_7d desc, events_30d desc, popularity.item_id limit 20
        ),
        per_user as (
            select labels.user_id, count(popular.item_id) / count(*) as recall
            from int_labels as labels left join popular on labels.item_id = popular.item_id
            where labels.snapshot = 'test' group by labels.user_id
        )
        select avg(recall) from per_user
        """
    )[0]
    assert metric(trained_warehouse, "popularity_recent", "recall", 20) == pytest.approx(expected)
    missed = trained_warehouse.query(
        "select count(distinct user_id) from int_labels where snapshot = 'test' and user_id not in"
        " (select user_id from fct_candidates where split = 'test' and label = 1)"
    )[0][0]
    assert missed > 0  # users none of whose items were candidates exist, and were counted
    assert metric(trained_warehouse, "ranker", "hit_rate", 20) < 1.0


def test_the_same_seed_and_data_give_the_same_model(trained_warehouse, tmp_path) -> None:
    copy = copy_warehouse(trained_warehouse, tmp_path)
    with copy.env():
        again = train_ranker(copy.db, rounds=200, seed=42, show_progress=False)
    (original,) = (trained_warehouse.root / "models").glob("*/model.txt")
    assert again.model_dir != original.parent
    assert (again.model_dir / "model.txt").read_text() == original.read_text()


def test_binning_parameters_reach_the_dataset(trained_warehouse, tmp_path) -> None:
    """Datasets are binned before lgb.train: parameters like max_bin must still apply."""
    import lightgbm as lgb

    copy = copy_warehouse(trained_warehouse, tmp_path)
    with copy.env():
        result = train_ranker(
            copy.db, params={"max_bin": 3}, rounds=20, seed=42, show_progress=False
        )
    model = lgb.Booster(model_file=str(result.model_dir / "model.txt")).dump_model()
    thresholds: dict[int, set[float]] = {}

    def walk(node: dict) -> None:
        if "split_feature" in node:
            thresholds.setdefault(node["split_feature"], set()).add(node["threshold"])
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in model["tree_info"]:
        walk(tree["tree_structure"])
    assert thresholds
    assert max(len(values) for values in thresholds.values()) <= 2  # 3 bins, 2 cut points


def test_the_objective_is_an_option_and_the_model_records_it(trained_warehouse, tmp_path) -> None:
    """Binary log-loss by default; `--objective lambdarank` fits the listwise ranker instead."""
    from click.testing import CliRunner

    from recsql.cli import cli

    (default,) = (trained_warehouse.root / "models").glob("*/metadata.json")
    assert json.loads(default.read_text())["params"]["objective"] == "binary"
    copy = copy_warehouse(trained_warehouse, tmp_path)
    with copy.env():
        args = ["--db", str(copy.db), "--objective", "lambdarank", "--rounds", "30", "--json"]
        result = CliRunner().invoke(cli, ["train", *args])
    assert result.exit_code == 0, result.output
    model_dir = Path(json.loads(result.stdout)["model_dir"])
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["params"]["objective"] == "lambdarank"
    assert "objective=lambdarank" in (model_dir / "model.txt").read_text()


def test_train_says_when_the_rounds_ran_out_before_early_stopping(trained_warehouse, tmp_path):
    from click.testing import CliRunner

    from recsql.cli import cli

    copy = copy_warehouse(trained_warehouse, tmp_path)
    with copy.env():
        result = CliRunner().invoke(cli, ["train", "--db", str(copy.db), "--rounds", "2"])
    assert result.exit_code == 0, result.output
    assert "the rounds ran out (--rounds 2)" in result.output
    (model_dir,) = (path for path in (copy.root / "models").iterdir() if path.name in result.output)
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["rounds_capped"] is True and metadata["rounds"] == 2


def test_past_max_learning_rows_the_fits_learn_from_a_share_of_the_queries(
    trained_warehouse, tmp_path
) -> None:
    from click.testing import CliRunner

    from recsql.cli import cli

    (default,) = (trained_warehouse.root / "models").glob("*/metadata.json")
    whole = json.loads(default.read_text())
    assert whole["query_share"] == 1.0  # the test shop is under the default limit
    limit = whole["learning_rows"] // 3
    copy = copy_warehouse(trained_warehouse, tmp_path)
    with copy.env():
        args = ["--db", str(copy.db), "--max-learning-rows", str(limit), "--rounds", "20"]
        result = CliRunner().invoke(cli, ["train", *args, "--json"])
    assert result.exit_code == 0, result.output
    trained = json.loads(result.stdout)
    assert trained["query_share"] == pytest.approx(limit / whole["learning_rows"])
    assert 0.8 * limit < trained["learning_rows"] < 1.2 * limit
    metadata = json.loads((Path(trained["model_dir"]) / "metadata.json").read_text())
    assert metadata["max_learning_rows"] == limit
    assert metadata["learning_rows"] == trained["learning_rows"]
    assert metadata["train_rows"] == whole["train_rows"]  # the rows that judge stay whole
