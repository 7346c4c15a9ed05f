"""The fits learn from every positive and a bounded, random share of each query's negatives."""

from __future__ import annotations

import numpy as np
import pytest

from recsql import training
from recsql.ranking_data import RankingData


def queries(sizes: list[int], positives: list[int]) -> RankingData:
    """One query per size (snapshot 'a', user u<i>), the first ``positives[i]`` rows positive."""
    users = np.concatenate([[f"u{i}"] * size for i, size in enumerate(sizes)]).astype(object)
    labels = np.concatenate(
        [np.r_[np.ones(p), np.zeros(size - p)] for size, p in zip(sizes, positives, strict=True)]
    ).astype(np.int32)
    rows = len(labels)
    return RankingData(np.zeros((rows, 1), np.float32), labels, np.array(["a"] * rows, object),
                       users, np.arange(rows).astype(str).astype(object))  # fmt: skip


def test_every_positive_stays_and_each_query_keeps_at_most_n_negatives() -> None:
    data = queries([400, 50, 120, 3], [5, 1, 0, 3])
    keep = training.learning_rows(data, 100, seed=1)
    kept = data.subset(keep)
    assert (kept.labels > 0).sum() == (data.labels > 0).sum() == 9
    negatives = {user: int(((kept.users == user) & (kept.labels == 0)).sum()) for user in
                 ["u0", "u1", "u2", "u3"]}  # fmt: skip
    assert negatives == {"u0": 100, "u1": 49, "u2": 100, "u3": 0}
    # rows keep their query order, so the group sizes still hold
    assert list(training.group_sizes_in_row_order(kept.snapshots, kept.users)) == [105, 50, 100, 3]


def test_the_draw_is_random_but_repeatable_by_seed() -> None:
    data = queries([400], [2])
    first, again = training.learning_rows(data, 50, seed=7), training.learning_rows(data, 50, 7)
    other = training.learning_rows(data, 50, seed=8)
    assert (first == again).all() and not (first == other).all()
    # uniform over the query: the kept negatives spread over its whole length
    positions = np.flatnonzero(first & (data.labels == 0))
    assert positions.min() < 100 and positions.max() > 300


def test_none_keeps_every_row() -> None:
    data = queries([400, 10], [1, 1])
    assert training.learning_rows(data, None, seed=1).all()


def test_rows_drawn_in_two_goes_are_those_one_go_over_both_draws() -> None:
    """Training draws train's rows first and the test queries' later: the refit must learn
    from the rows one draw over both logs would choose."""
    both = queries([400, 120, 300, 80], [3, 0, 5, 1])
    at = 520  # the first two queries, then the last two
    whole = training.learning_rows(both, 50, seed=5)
    first = training.learning_rows(both.subset(np.arange(len(both.labels)) < at), 50, seed=5)
    later = both.subset(np.arange(len(both.labels)) >= at)
    second = training.learning_rows(later, 50, seed=5, first_draw=at)
    assert np.array_equal(np.concatenate([first, second]), whole)
    assert not np.array_equal(second, training.learning_rows(later, 50, seed=5))


def test_past_the_row_limit_a_fit_learns_from_a_share_of_whole_queries() -> None:
    sizes = [30 + (i * 7) % 50 for i in range(2_000)]
    data = queries(sizes, [1 + i % 3 for i in range(2_000)])
    share = training.query_share(len(data.labels), 20_000)
    assert share == pytest.approx(20_000 / len(data.labels))
    keep = training.in_sampled_queries(data, share, seed=3)
    kept_users = set(data.users[keep].tolist())
    assert 0.85 * share < len(kept_users) / 2_000 < 1.15 * share
    # whole queries: a kept user keeps every row, a dropped one none
    for user in ("u0", "u1", "u2", "u3", "u4", "u5"):
        rows = keep[data.users == user]
        assert rows.all() or not rows.any()
    assert not np.array_equal(keep, training.in_sampled_queries(data, share, seed=4))


def test_a_query_is_chosen_the_same_way_wherever_it_comes() -> None:
    """Train's and test's queries are drawn apart: the choice hangs on the query, not its row."""
    data = queries([5] * 400, [1] * 400)
    whole = training.in_sampled_queries(data, 0.5, seed=9)
    later = data.subset(np.arange(len(data.labels)) >= 1_000)
    assert np.array_equal(training.in_sampled_queries(later, 0.5, seed=9), whole[1_000:])


def test_under_the_row_limit_every_query_stays() -> None:
    data = queries([40, 60], [1, 2])
    assert training.query_share(len(data.labels), 100) == 1.0
    assert training.query_share(len(data.labels), None) == 1.0
    assert training.in_sampled_queries(data, 1.0, seed=1).all()


def test_a_choice_among_some_queries_is_the_choice_over_those_queries_alone() -> None:
    """The refit draws the test queries with a positive without copying them out: the rows
    chosen must be the ones a draw over that subset, on its own, would choose."""
    data = queries([300, 90, 200, 60, 150], [2, 0, 4, 0, 1])
    among = training.in_positive_groups(data)
    alone = training.learning_rows(data.subset(among), 50, seed=9, first_draw=700)
    chosen = training.learning_rows(data, 50, seed=9, first_draw=700, among=among)
    assert np.array_equal(chosen[among], alone) and not chosen[~among].any()
    assert np.array_equal(training.learning_rows(data, None, seed=9, among=among), among)
