-- The rows a rolled-back train snapshot keeps (int_candidate_sample reads them): every
-- positive and at most var train_negatives_per_query negatives per (snapshot, user), drawn by
-- the md5 of the ids (the same rows in every build, and on DuckDB and Spark alike: their
-- hash() functions differ). sample_weight: on a kept negative, the
-- query's negatives over those kept; 1 on a positive. Empty when the var is null.
{%- set kept = var('train_negatives_per_query') %}
with
candidates as (select * from {{ ref('int_candidates') }}),
sampled_snapshots as (
    select snapshot from {{ ref('int_snapshots') }}
    where split = 'train' and snapshot <> 'train' and {{ 'false' if kept is none else 'true' }}
),
labels as (select snapshot, user_id, item_id from {{ ref('int_labels') }}),
{%- set kept = 0 if kept is none else sql_number(kept, 'train_negatives_per_query', integer=true, minimum=0) %}

drawn as (
    select
        candidates.*,
        labels.item_id is not null as is_positive,
        row_number() over (
            partition by candidates.snapshot, candidates.user_id, labels.item_id is not null
            order by md5(concat(candidates.snapshot, '|', candidates.user_id, '|', candidates.item_id)), candidates.item_id
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
)

select
    {{ star_except(['is_positive', 'draw', 'of_kind'], 'drawn') }},
    case when is_positive then 1e0 else of_kind * 1e0 / least(of_kind, {{ kept }}) end as sample_weight
from drawn
where is_positive or draw <= {{ kept }}
