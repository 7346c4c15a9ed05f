-- The candidates the ranker's table carries. Test, serve and the latest train snapshot (it
-- chooses the boosting rounds) keep every row; a rolled-back train snapshot keeps every
-- positive and at most var train_negatives_per_query negatives per (snapshot, user), drawn by
-- a hash of the ids (the same rows in every build). A fit learns from that many negatives per
-- query anyway (`recsql train --negatives-per-query`), so carrying the rest through every
-- feature join only cost time: at 2M events they were a third of fct_candidates.
-- sample_weight: on a kept negative, the query's negatives over those kept; 1 elsewhere, so
-- weighted sums count the whole candidate list (monitor_label_balance uses them).
{%- set kept = var('train_negatives_per_query') %}
with
candidates as (select * from {{ ref('int_candidates') }}),
{%- if kept is none %}
sample as (select candidates.*, 1e0 as sample_weight from candidates)
{%- else %}
{%- set kept = sql_number(kept, 'train_negatives_per_query', integer=true, minimum=0) %}
sampled_snapshots as (
    select snapshot from {{ ref('int_snapshots') }} where split = 'train' and snapshot <> 'train'
),
labels as (select snapshot, user_id, item_id from {{ ref('int_labels') }}),

drawn as (
    select
        candidates.*,
        labels.item_id is not null as is_positive,
        row_number() over (
            partition by candidates.snapshot, candidates.user_id, labels.item_id is not null
            order by hash(candidates.item_id, candidates.user_id, candidates.snapshot), candidates.item_id
        ) as draw,
        count(*) over (
            partition by candidates.snapshot, candidates.user_id, labels.item_id is not null
        ) as of_kind
    from candidates
    inner join sampled_snapshots on candidates.snapshot = sampled_snapshots.snapshot
    left join labels
        on candidates.snapshot = labels.snapshot
        and candidates.user_id = labels.user_id
        and candidates.item_id = labels.item_id
),

sample as (
    select candidates.*, 1e0 as sample_weight
    from candidates
    where candidates.snapshot not in (select snapshot from sampled_snapshots)
    union all
    select
        {{ star_except(['is_positive', 'draw', 'of_kind'], 'drawn') }},
        case when is_positive then 1e0 else of_kind * 1e0 / least(of_kind, {{ kept }}) end
    from drawn
    where is_positive or draw <= {{ kept }}
)
{%- endif %}

select * from sample
