"""Honest self-evaluation: intervals, the verdict against the best baseline, what score serves,
and training that chooses its rounds on a later window and refits on the latest one."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner

from recsql import evaluation, methods, metrics, training, warehouse
from recsql.cli import cli
from recsql.ranking_data import RankingData
from tests.conftest import Warehouse, copy_warehouse


def test_bootstrap_intervals_are_exact_for_a_constant_and_cover_the_mean() -> None:
    low, high = metrics.confidence_interval(metrics.bootstrap_means(np.full(50, 0.3)))
    assert low[0] == pytest.approx(0.3) and high[0] == pytest.approx(0.3)
    values = np.random.default_rng(1).random(400)
    low, high = metrics.confidence_interval(metrics.bootstrap_means(values))
    assert low[0] < values.mean() < high[0] and high[0] - low[0] < 0.1


def test_the_paired_test_sees_a_sure_gain_and_no_gain() -> None:
    base = np.random.default_rng(2).random(300)
    assert metrics.p_not_better(base + 0.05, base) == 0.0
    assert metrics.p_not_better(base, base) == 1.0
    assert metrics.p_not_better(base, base + 0.05) == 1.0


def test_a_ranker_that_loses_is_called_out_and_not_served() -> None:
    lost = evaluation.Verdict("gen_repurchase", ranker=0.40, baseline=0.43, p_not_better=0.99)
    assert lost.serve_method == "gen_repurchase" and not lost.ranker_wins
    assert lost.sentence().startswith("WARNING: the ranker does not beat gen_repurchase")
    won = evaluation.Verdict("gen_repurchase", ranker=0.45, baseline=0.43, p_not_better=0.01)
    assert won.serve_method == "ranker" and "beats every baseline" in won.sentence()
    unsure = evaluation.Verdict("gen_ease", ranker=0.44, baseline=0.43, p_not_better=0.3)
    assert unsure.serve_method == "ranker" and "not surely" in unsure.sentence()


def test_the_verdict_compares_with_the_best_baseline_by_mean() -> None:
    values = {
        "ranker": np.array([0.5, 0.5, 0.6]),
        "gen_a": np.array([0.1, 0.2, 0.3]),
        "gen_b": np.array([0.6, 0.6, 0.7]),
    }
    verdict = evaluation.compare_with_best_baseline(values)
    assert verdict.best_baseline == "gen_b" and verdict.serve_method == "gen_b"


def test_metrics_carry_intervals_around_their_means(trained_warehouse) -> None:
    rows = trained_warehouse.query(
        "select method, value, ci95_low, ci95_high from model_metrics"
        " where metric = 'ndcg' and k = 10"
    )
    assert len(rows) >= 8
    for method, value, low, high in rows:
        assert low <= value <= high and high - low < 0.2, (method, value, low, high)


def test_each_baseline_is_judged_on_its_full_order_over_every_candidate(trained_warehouse) -> None:
    """Evaluation ranks a generator's own rows and the popularity fallback only; its lists must
    be the first rows of the generator's order over all of each user's test candidates."""
    with duckdb.connect(str(trained_warehouse.db), read_only=True) as con:
        names = evaluation.generator_names(con)
        evaluation._store_fallback(con, names)
        short = 0
        for name in names:
            full = (
                "select user_id, item_id, row_number() over (partition by user_id order by"
                f" {evaluation.generator_order(name)}) - 1 as rank from fct_candidates"
                f" where split = 'test' qualify rank < {evaluation.DEPTH}"
            )
            fast = evaluation._generator_top(name)
            differ = con.execute(
                f"select (select count(*) from (({full}) except all ({fast})))"
                f" + (select count(*) from (({fast}) except all ({full}))), (select count(*) from ({full}))"
            ).fetchall()
            assert differ[0][0] == 0 and differ[0][1] > 0, name
            # users with fewer own rows than a list holds: the fallback fills their lists
            short += con.execute(
                f"select count(*) from (select user_id from fct_candidates where split = 'test'"
                f" group by user_id having count(gen_{name}_score) < {evaluation.DEPTH})"
            ).fetchall()[0][0]
        assert short > 0


def test_popularity_gives_every_evaluated_user_a_full_list(trained_warehouse) -> None:
    """eval_users carries each user's place; the popularity list joins it laterally, so none of
    its names may capture the list's own (a ``position`` column would cut it to 21 users)."""
    with duckdb.connect(str(trained_warehouse.db), read_only=True) as con:
        users = [row[0] for row in con.execute(
            "select distinct user_id from int_labels where snapshot = 'test' order by 1"
        ).fetchall()]  # fmt: skip
        assert len(users) > evaluation.DEPTH + 1
        con.register("eval_users", evaluation.places("user_id", np.array(users, dtype=object)))
        counts = con.execute(
            f"select count(distinct user_id), count(*) from ({evaluation._popularity_top(False)})"
        ).fetchall()
    assert counts == [(len(users), len(users) * evaluation.DEPTH)]


def test_the_rankers_top_rows_are_by_score_then_row_order() -> None:
    data = RankingData(
        features=np.zeros((6, 0), np.float32),
        labels=np.zeros(6, np.int32),
        snapshots=np.array(["test"] * 6, dtype=object),
        users=np.array(["a", "a", "a", "b", "b", "c"], dtype=object),
        items=np.array(["i1", "i2", "i3", "i1", "i2", "i9"], dtype=object),
    )
    top, rank = evaluation.top_rows_per_query(data, np.array([0.2, 0.5, 0.5, 0.1, 0.3, 0.0]), 2)
    # a: i2 and i3 tie at 0.5 (item order breaks it); i1 falls off; b: i2 then i1; c: i9
    assert top.tolist() == [1, 2, 4, 3, 5]
    assert rank.tolist() == [0, 1, 0, 1, 0]


def test_the_registered_model_records_its_verdict_and_what_to_serve(trained_warehouse) -> None:
    [(metadata,)] = trained_warehouse.query("select metadata from model_registry")
    verdict = json.loads(metadata)["verdict"]
    ndcg = dict(
        trained_warehouse.query(
            "select method, value from model_metrics where metric = 'ndcg' and k = 10"
        )
    )
    best = max((value, method) for method, value in ndcg.items() if method != "ranker")[1]
    assert verdict["best_baseline"] == best
    assert verdict["ranker"] == pytest.approx(ndcg["ranker"])
    assert json.loads(metadata)["serve_method"] == (
        "ranker" if ndcg["ranker"] > ndcg[best] else best
    )


def test_best_serves_what_the_model_recorded_and_unknown_methods_are_refused(
    trained_warehouse,
) -> None:
    with warehouse.connect(trained_warehouse.db, read_only=True) as con:
        assert methods.resolve(con, "best", {"serve_method": "gen_ease"}) == "gen_ease"
        assert methods.resolve(con, "best", {}) == "ranker"
        assert methods.resolve(con, "popularity_recent", {}) == "gen_popular_recent"
        with pytest.raises(methods.UnknownMethod, match="gen_repurchase"):
            methods.resolve(con, "gen_nothing", {})


def run(warehouse: Warehouse, *args: str):
    with warehouse.env():
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_a_baseline_is_served_exactly_as_it_was_measured(trained_warehouse, tmp_path) -> None:
    copy = copy_warehouse(trained_warehouse, tmp_path)
    result = run(copy, "score", "--method", "gen_repurchase", "--top-k", "5")
    assert result.exit_code == 0, result.output
    assert "method gen_repurchase" in result.output
    assert copy.query("select distinct method from recommendations") == [("gen_repurchase",)]
    assert copy.query("select max(rank) from recommendations") == [(5,)]
    # a user's own items come first, by the repurchase score, then popular items fill the list
    mismatched = copy.query(
        """
        with expected as (
            select user_id, item_id, row_number() over (partition by user_id order by
                gen_repurchase_score desc nulls last, gen_popular_recent_score desc nulls last,
                item_id) as rank
            from fct_candidates where split = 'serve'
        )
        select count(*) from recommendations
        left join expected using (user_id, rank)
        where expected.item_id is distinct from recommendations.item_id
        """
    )
    assert mismatched == [(0,)]


def test_exclude_seen_leaves_out_what_users_had_and_says_so(trained_warehouse, tmp_path) -> None:
    copy = copy_warehouse(trained_warehouse, tmp_path)
    result = run(copy, "score", "--method", "ranker", "--exclude-seen", "--top-k", "20")
    assert result.exit_code == 0, result.output
    assert "items users already had: excluded (--exclude-seen given)" in result.output
    seen = copy.query(
        "select count(*) from recommendations inner join int_user_item_history as history"
        " on history.snapshot = 'serve' and history.user_id = recommendations.user_id"
        " and history.item_id = recommendations.item_id"
    )
    assert seen == [(0,)]
    kept = run(copy, "score", "--method", "ranker", "--keep-seen")
    assert "items users already had: kept" in kept.output
    assert copy.query(
        "select count(*) > 0 from recommendations inner join int_user_item_history as history"
        " on history.snapshot = 'serve' and history.user_id = recommendations.user_id"
        " and history.item_id = recommendations.item_id"
    ) == [(True,)]


def test_rounds_come_from_the_latest_train_snapshot_not_a_share_of_users() -> None:
    data = RankingData(
        features=np.zeros((6, 1), np.float32),
        labels=np.zeros(6, np.int32),
        snapshots=np.array(["train_2", "train_2", "train_2", "train", "train", "train"], object),
        users=np.array(["a", "b", "b", "a", "c", "c"], object),
        items=np.array(list("xyzxyz"), object),
    )
    mask, why = training.validation_rows(data, seed=1, fraction=0.5)
    assert mask.tolist() == [False, False, False, True, True, True] and why == "snapshot 'train'"
    one = data.subset(data.snapshots == "train")
    mask, why = training.validation_rows(one, seed=1, fraction=0.5)
    assert why == "50% of users" and mask.tolist() == [mask[0], mask[1], mask[1]]


def test_rounds_are_judged_on_at_most_so_many_held_out_users_each_with_every_row(
    monkeypatch,
) -> None:
    users = np.array([f"u{i % 40}" for i in range(400)], object)
    snapshots = np.array(["train_2"] * 200 + ["train"] * 200, object)
    data = RankingData(
        np.zeros((400, 1), np.float32), np.zeros(400, np.int32), snapshots, users, users
    )
    held_out = snapshots == "train"
    judged, _ = training.judged_rows(data, held_out, seed=1)
    assert judged.tolist() == held_out.tolist()  # 40 users: under the cap, all of them
    monkeypatch.setattr(training, "VALIDATION_QUERIES", 10)
    judged, why = training.judged_rows(data, held_out, seed=1)
    chosen = set(users[judged])
    assert 4 <= len(chosen) <= 18 and why == ", 25% of its users"  # ~10 of 40 by hash
    assert not (judged & ~held_out).any()
    assert all(judged[held_out & (users == user)].all() for user in chosen)  # whole lists
    assert training.judged_rows(data, held_out, seed=1)[0].tolist() == judged.tolist()


def test_the_saved_model_is_refit_with_the_test_window(trained_warehouse, tmp_path, monkeypatch):
    copy = copy_warehouse(trained_warehouse, tmp_path)
    built: list[tuple[int, set[str]]] = []  # rows and snapshots of each binned dataset
    fitted: list[tuple[int, set[str], int]] = []
    dataset, fit = training.dataset, training._fit

    def recording_dataset(data, features, params, reference=None):
        parts = data if isinstance(data, list) else [data]
        snapshots = set().union(*(np.unique(part.snapshots) for part in parts))
        built.append((sum(len(part.labels) for part in parts), snapshots))
        return dataset(data, features, params, reference)

    def recording_fit(data, params, rounds):  # a fit learns from the dataset binned last
        fitted.append((*built[-1], rounds))
        return fit(data, params, rounds)

    monkeypatch.setattr(training, "dataset", recording_dataset)
    monkeypatch.setattr(training, "_fit", recording_fit)
    with copy.env():
        result = training.train_ranker(copy.db, rounds=60, seed=3, show_progress=False)
    (evaluated_rows, evaluated_on, rounds), (saved_rows, saved_on, saved_rounds) = fitted
    assert "test" not in evaluated_on and {"train", "train_2"} <= evaluated_on
    assert saved_on == evaluated_on | {"test"} and saved_rows > evaluated_rows
    assert rounds == saved_rounds == result.best_iteration
    metadata = json.loads((result.model_dir / "metadata.json").read_text())
    assert metadata["validation"] == "snapshot 'train'"
