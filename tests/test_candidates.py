"""Candidates on the demo shop: recall measured, everyone covered, staples found."""

from __future__ import annotations

import numpy as np
import pytest


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


def test_repeat_cycle_features_follow_each_users_own_gaps(demo_warehouse) -> None:
    """user_item_mean_gap_days = span between the first and last day the user had the item over
    (days - 1); due_ratio = days since the last one over that gap; item_repeat_rate = share of
    the item's buyers with it on more than one day. Recomputed here from the clean events."""
    rows = demo_warehouse.query(
        """
        with visible as (
            select snapshots.snapshot, events.user_id, events.item_id,
                (epoch(snapshots.cutoff_ts) - epoch(events.event_ts)) / 86400.0 as age
            from int_interactions_clean as events
            inner join int_snapshots as snapshots on events.event_ts < snapshots.cutoff_ts
                -- a purchase returned before the cutoff is gone by then
                and not coalesce(events.cancelled_ts < snapshots.cutoff_ts, false)
        ),
        per_user_item as (
            select snapshot, user_id, item_id, count(distinct floor(age)) as days,
                (max(age) - min(age)) / nullif(count(distinct floor(age)) - 1, 0) as gap,
                min(age) as last
            from visible group by all
        ),
        per_item as (
            select snapshot, item_id, avg(case when days > 1 then 1.0 else 0.0 end) as repeat_rate
            from per_user_item group by all
        ),
        features as (
            select distinct snapshot, user_id, item_id, user_item_mean_gap_days,
                user_item_due_ratio, user_item_order_share, item_repeat_rate
            from fct_candidates where user_item_times_bought > 0
        )
        select
            count(*),
            count(*) filter (where features.user_item_mean_gap_days is distinct from expected.gap
                and abs(features.user_item_mean_gap_days - expected.gap) > 1e-6),
            count(*) filter (where expected.gap > 0
                and abs(features.user_item_due_ratio - expected.last / expected.gap) > 1e-6),
            count(*) filter (where abs(features.item_repeat_rate - per_item.repeat_rate) > 1e-9),
            count(*) filter (where not features.user_item_order_share between 0 and 1),
            count(*) filter (where expected.days > 1)
        from features
        inner join per_user_item as expected using (snapshot, user_id, item_id)
        inner join per_item using (snapshot, item_id)
        """
    )
    total, wrong_gap, wrong_due, wrong_repeat, bad_share, repeated = rows[0]
    assert total > 1000 and repeated > 100, rows
    assert (wrong_gap, wrong_due, wrong_repeat, bad_share) == (0, 0, 0, 0), rows
    never_had = demo_warehouse.query(
        "select count(*), count(*) filter (where user_item_order_share <> 0"
        " or user_item_mean_gap_days is not null) from fct_candidates where not is_seen"
    )
    assert never_had[0][0] > 1000 and never_had[0][1] == 0, never_had


def test_visit_pack_and_category_features_recomputed_from_the_clean_events(demo_warehouse) -> None:
    """user_item_visits_since_last = the user's visits (orders; days without an order id) after
    the last one that held the item; units_per_event = units over events; category days since
    last = the latest of the user's events in any of the item's categories; lead = the item's
    days since last minus that (0 when the item was the category's latest)."""
    rows = demo_warehouse.query(
        """
        with visible as (
            select snapshots.snapshot, events.user_id, events.item_id, events.quantity,
                coalesce(events.order_id, 'day ' || cast(floor(
                    (epoch(snapshots.cutoff_ts) - epoch(events.event_ts)) / 86400.0) as varchar)) as visit,
                (epoch(snapshots.cutoff_ts) - epoch(events.event_ts)) / 86400.0 as age
            from int_interactions_clean as events
            inner join int_snapshots as snapshots on events.event_ts < snapshots.cutoff_ts
                and not coalesce(events.cancelled_ts < snapshots.cutoff_ts, false)
        ),
        visit_age as (select snapshot, user_id, visit, min(age) as age from visible group by all),
        per_user_item as (
            select snapshot, user_id, item_id, min(age) as last,
                sum(quantity) / count(*) as units
            from visible group by all
        ),
        item_visits as (
            select distinct visible.snapshot, visible.user_id, visible.item_id, visit_age.visit,
                visit_age.age
            from visible inner join visit_age using (snapshot, user_id, visit)
        ),
        latest_visit as (  -- per user and item, its latest visit: youngest, ties by key
            select snapshot, user_id, item_id, min(age) as age,
                min(visit) filter (where age = youngest) as visit
            from (select *, min(age) over (partition by snapshot, user_id, item_id) as youngest
                  from item_visits)
            group by all
        ),
        later_visits as (
            select items.snapshot, items.user_id, items.item_id, count(visits.visit) as visits
            from latest_visit as items
            left join visit_age as visits
                on items.snapshot = visits.snapshot and items.user_id = visits.user_id
                and (visits.age < items.age or (visits.age = items.age and visits.visit < items.visit))
            group by all
        ),
        per_category as (
            select visible.snapshot, visible.user_id, categories.category, min(visible.age) as last
            from visible inner join int_item_categories as categories using (item_id)
            group by all
        ),
        item_category as (
            select candidates.snapshot, candidates.user_id, candidates.item_id,
                min(per_category.last) as last
            from (select distinct snapshot, user_id, item_id from fct_candidates) as candidates
            inner join int_item_categories as categories using (item_id)
            inner join per_category
                on candidates.snapshot = per_category.snapshot
                and candidates.user_id = per_category.user_id
                and categories.category = per_category.category
            group by all
        ),
        features as (
            select distinct snapshot, user_id, item_id, user_item_visits_since_last,
                user_item_units_per_event, user_item_category_days_since_last,
                user_item_category_lead_days, user_item_days_since_last
            from fct_candidates
        )
        select
            count(*) filter (where features.user_item_days_since_last is not null),
            count(*) filter (where later.visits is distinct from features.user_item_visits_since_last),
            count(*) filter (where abs(expected.units - features.user_item_units_per_event) > 1e-9
                or (expected.units is null) <> (features.user_item_units_per_event is null)),
            count(*) filter (where features.user_item_category_days_since_last is not null),
            count(*) filter (where abs(category.last - features.user_item_category_days_since_last) > 1e-6
                or (category.last is null) <> (features.user_item_category_days_since_last is null)),
            count(*) filter (where abs(expected.last - category.last
                - features.user_item_category_lead_days) > 1e-6
                or features.user_item_category_lead_days < 0
                or (expected.last is null or category.last is null)
                    <> (features.user_item_category_lead_days is null)),
            count(*) filter (where features.user_item_visits_since_last > 0)
        from features
        left join per_user_item as expected using (snapshot, user_id, item_id)
        left join later_visits as later using (snapshot, user_id, item_id)
        left join item_category as category using (snapshot, user_id, item_id)
        """
    )
    had, wrong_visits, wrong_units, with_category, wrong_category, wrong_lead, later = rows[0]
    assert had > 1000 and with_category > had and later > 100, rows
    assert (wrong_visits, wrong_units, wrong_category, wrong_lead) == (0, 0, 0, 0), rows


def test_candidate_ids_name_one_candidate_each_and_similarity_keeps_them(demo_warehouse) -> None:
    """fct_candidates joins the similarity features on candidate_id alone: each id must be one
    (snapshot, user, item) of int_candidates, and int_candidate_similarity must carry its own."""
    rows, ids, nulls = demo_warehouse.query(
        "select count(*), count(distinct candidate_id), count(*) - count(candidate_id)"
        " from int_candidates"
    )[0]
    assert rows > 0 and ids == rows and nulls == 0
    (carried,) = demo_warehouse.query("select count(*) from int_candidate_sample")[0]
    similarity_rows, same_candidate = demo_warehouse.query(
        "select count(*), count(candidates.candidate_id) from int_candidate_similarity as similarity"
        " left join int_candidates as candidates on similarity.candidate_id = candidates.candidate_id"
        " and similarity.snapshot = candidates.snapshot and similarity.user_id = candidates.user_id"
        " and similarity.item_id = candidates.item_id"
    )[0]
    assert similarity_rows > 0.9 * carried and same_candidate == similarity_rows


def test_price_level_and_spread_are_each_users_mean_and_sample_std(demo_warehouse) -> None:
    """Computed from exact decimal sums (so every build gives the same bits): the same values as
    a float64 mean and sample standard deviation, and exactly 0 for a user of one price."""
    prices: dict[str, list[float]] = {}
    for user, price in demo_warehouse.query(
        "select user_id, price from int_events_before_cutoff"
        " where snapshot = 'test' and price is not null"
    ):
        prices.setdefault(user, []).append(price)
    aggregates = {
        user: (mean, std)
        for user, mean, std in demo_warehouse.query(
            "select user_id, avg_price, price_std from int_user_aggregates where snapshot = 'test'"
        )
    }
    assert len(prices) > 100
    for user, values in prices.items():
        mean, std = aggregates[user]
        assert mean == pytest.approx(np.mean(values), abs=1e-9), user
        if len(values) == 1:
            assert std is None, user
        elif len(set(values)) == 1:
            assert std == 0.0, user
        else:
            assert std == pytest.approx(np.std(values, ddof=1), abs=1e-9), user


def test_rolled_back_train_snapshots_carry_every_positive_and_a_sample_of_negatives(
    demo_warehouse,
) -> None:
    """Per (snapshot, user): every positive of int_candidates stays, at most 50 negatives (var
    train_negatives_per_query) are drawn from the rest, and the weights add up to the whole
    list; test, serve and the latest train snapshot (it chooses the rounds) stay whole."""
    rows = demo_warehouse.query(
        """
        with whole as (
            select candidates.snapshot, candidates.user_id,
                count(labels.item_id) as positives, count(*) - count(labels.item_id) as negatives
            from int_candidates as candidates
            left join int_labels as labels on candidates.snapshot = labels.snapshot
                and candidates.user_id = labels.user_id and candidates.item_id = labels.item_id
            group by all
        ),
        carried as (
            select snapshot, user_id, sum(coalesce(label, 0)) as positives,
                count(*) - sum(coalesce(label, 0)) as negatives,
                sum(sample_weight) as weight
            from fct_candidates group by all
        )
        select whole.snapshot,
            count(*) filter (where carried.positives = whole.positives) as same_positives,
            count(*) filter (where carried.negatives = whole.negatives) as whole_negatives,
            count(*) filter (where carried.negatives = least(whole.negatives, 50)) as drawn,
            count(*) filter (where abs(carried.weight - whole.positives - whole.negatives) < 1e-6)
                as weighed,
            count(*) as users
        from whole inner join carried using (snapshot, user_id)
        group by all order by all
        """
    )
    by_snapshot = {snapshot: counts for snapshot, *counts in rows}
    assert set(by_snapshot) == {"serve", "test", "train", "train_2", "train_3"}
    for snapshot, (same_positives, whole_negatives, drawn, weighed, users) in by_snapshot.items():
        assert same_positives == weighed == users, snapshot
        if snapshot in ("train_2", "train_3"):  # most of the demo's lists are longer than 50
            assert drawn == users and whole_negatives < 0.5 * users, snapshot
        else:
            assert whole_negatives == users, snapshot
    # no user of int_candidates goes missing
    assert demo_warehouse.query(
        "select count(distinct (snapshot, user_id)) from int_candidates"
    ) == demo_warehouse.query("select count(distinct (snapshot, user_id)) from fct_candidates")
