-- How much of what users really did next the candidates contain: per labelled snapshot, per
-- generator and for their union, the share of label items proposed (recall@candidates) and
-- candidates per user. The ceiling of every ranker downstream. When the build leaves out items
-- users already had (int_seen_policy), both sides leave them out, as fct_candidates and the
-- evaluation do: the recall of new items, which a re-buy generator cannot raise.
with
labels as ({{ without_seen_items(ref('int_labels')) }}),
candidates as ({{ without_seen_items(ref('int_candidates')) }}),
snapshots as (select snapshot, split from {{ ref('int_snapshots') }} where split <> 'serve'),

-- each candidate read once, beside whether it is a label item: per user, each generator's
-- candidates and hits (a generator proposed the row when its gen_ score is set)
per_user as (
    select
        candidates.snapshot,
        candidates.user_id,
        {%- for name in candidate_generator_names() %}
        count(candidates.gen_{{ name }}_score) as {{ name }}_candidates,
        count(case when candidates.gen_{{ name }}_score is not null then labels.item_id end) as {{ name }}_hits,
        {%- endfor %}
        count(*) as union_candidates,
        count(labels.item_id) as union_hits
    from candidates
    inner join snapshots on candidates.snapshot = snapshots.snapshot
    left join labels
        on candidates.snapshot = labels.snapshot
        and candidates.user_id = labels.user_id
        and candidates.item_id = labels.item_id
    group by candidates.snapshot, candidates.user_id
),

label_totals as (
    select snapshot, count(*) as label_items, count(distinct user_id) as users
    from labels
    group by snapshot
),

-- a row per snapshot and generator that proposed anything there, and one for their union
measured as (
    {%- for name in candidate_generator_names() + ['union'] %}
    select
        snapshot,
        '{{ name }}' as generator,
        cast(sum({{ name }}_candidates) as bigint) as candidates,
        count(case when {{ name }}_candidates > 0 then 1 end) as users_with_candidates,
        cast(sum({{ name }}_hits) as bigint) as hits
    from per_user
    group by snapshot
    having sum({{ name }}_candidates) > 0
    {{ 'union all' if not loop.last }}
    {%- endfor %}
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
