-- How much of what users really did next the candidates contain: per labelled snapshot, per
-- generator and for their union, the share of label items proposed (recall@candidates) and
-- candidates per user. The ceiling of every ranker downstream. When the build leaves out items
-- users already had (int_seen_policy), both sides leave them out, as fct_candidates and the
-- evaluation do: the recall of new items, which a re-buy generator cannot raise.
with
labels as ({{ without_seen_items(ref('int_labels')) }}),
candidates as ({{ without_seen_items(ref('int_candidates')) }}),
snapshots as (select snapshot, split from {{ ref('int_snapshots') }} where split <> 'serve'),

proposals as (
    {% for name in candidate_generator_names() -%}
    select snapshot, user_id, item_id, '{{ name }}' as generator
    from candidates
    where gen_{{ name }}_score is not null
    union all
    {% endfor -%}
    select snapshot, user_id, item_id, 'union' as generator from candidates
),

label_totals as (
    select snapshot, count(*) as label_items, count(distinct user_id) as users
    from labels
    group by snapshot
),

measured as (
    select
        proposals.snapshot,
        proposals.generator,
        count(*) as candidates,
        count(distinct proposals.user_id) as users_with_candidates,
        count(labels.item_id) as hits
    from proposals
    left join labels
        on proposals.snapshot = labels.snapshot
        and proposals.user_id = labels.user_id
        and proposals.item_id = labels.item_id
    group by proposals.snapshot, proposals.generator
),

recall as (
    select
        measured.snapshot,
        snapshots.split,
        measured.generator,
        label_totals.users,
        label_totals.label_items,
        measured.hits,
        measured.hits / label_totals.label_items as recall,
        measured.candidates / label_totals.users as candidates_per_user
    from measured
    inner join snapshots on measured.snapshot = snapshots.snapshot
    inner join label_totals on measured.snapshot = label_totals.snapshot
)

select * from recall
