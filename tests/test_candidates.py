"""Candidates on the demo shop: recall measured, everyone covered, staples found."""

from __future__ import annotations


def test_the_union_recalls_more_than_any_single_generator(demo_warehouse) -> None:
    rows = dict(
        demo_warehouse.query("select generator, recall from candidate_recall where split = 'test'")
    )
    union = rows.pop("union")
    assert len(rows) == 8 and all(value > 0 for value in rows.values()), rows
    assert union > max(rows.values()) + 0.05, (union, rows)


def test_users_without_history_still_get_candidates(demo_warehouse) -> None:
    missing = demo_warehouse.query(
        "select count(*) from int_snapshot_users as users where not exists ("
        " select 1 from int_candidates as candidates"
        " where candidates.snapshot = users.snapshot and candidates.user_id = users.user_id)"
    )
    cold = demo_warehouse.query("select count(*) from int_snapshot_users where not has_history")
    assert missing == [(0,)] and cold[0][0] > 0


def test_repurchase_finds_the_staples_people_buy_again(demo_warehouse) -> None:
    # of test labels the user had bought before the cutoff, the repurchase generator has most
    (share,) = demo_warehouse.query(
        """
        select avg(case when candidates.gen_repurchase_score is not null then 1.0 else 0.0 end)
        from int_labels as labels
        inner join int_user_item_history as history
            on labels.snapshot = history.snapshot and labels.user_id = history.user_id
            and labels.item_id = history.item_id
        left join int_candidates as candidates
            on labels.snapshot = candidates.snapshot and labels.user_id = candidates.user_id
            and labels.item_id = candidates.item_id
        where labels.snapshot = 'test'
        """
    )[0]
    assert share > 0.9, share
