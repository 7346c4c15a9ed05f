-- What int_candidate_similarity multiplies, as row numbers into the vector matrices: per
-- snapshot user, their candidate items, their profile and their last sim_recent_items items.
-- One row per snapshot and user with candidates.
{{ config(enabled=python_models_enabled()) }}  {#- reads Python models: DuckDB only -#}
with
candidates as (select snapshot, user_id, item_id, candidate_id from {{ ref('int_candidate_sample') }}),
embeddings as (select item_id, item_row from {{ ref('int_item_embeddings') }}),
profiles as (
    select snapshot, user_id, row_number() over (order by snapshot, user_id) - 1 as profile_row
    from {{ ref('int_user_profiles') }}
),
recent as (
    select * from {{ ref('int_user_recent_items') }}
    where recency_rank <= {{ sql_number(var('sim_recent_items'), 'sim_recent_items', integer=true) }}
),

-- one list of (item, candidate, vector row) per user, split in three after. Unordered: DuckDB
-- spills a plain list aggregate but not an ordered one, which ran out of memory at 5M events
-- (71.7M candidates, 4GB); unordered it took 48 s there, and 56 s at 2GB. The Python model puts
-- each user's candidates in item order itself.
candidate_lists as (
    select
        snapshot,
        user_id,
        list_transform(entries, lambda entry: entry.item_id) as item_ids,
        list_transform(entries, lambda entry: entry.candidate_id) as candidate_ids,
        list_transform(entries, lambda entry: entry.item_row) as item_rows
    from (
        select
            candidates.snapshot,
            candidates.user_id,
            list(
                {'item_id': candidates.item_id, 'candidate_id': candidates.candidate_id, 'item_row': embeddings.item_row}
            ) as entries
        from candidates
        inner join embeddings on candidates.item_id = embeddings.item_id
        group by candidates.snapshot, candidates.user_id
    ) as grouped
),

recent_lists as (
    select
        recent.snapshot,
        recent.user_id,
        list(recent.item_id order by recent.recency_rank) as recent_item_ids,
        list(embeddings.item_row order by recent.recency_rank) as recent_rows
    from recent
    inner join embeddings on recent.item_id = embeddings.item_id
    group by recent.snapshot, recent.user_id
),

inputs as (
    select
        candidate_lists.*,
        profiles.profile_row,
        recent_lists.recent_item_ids,
        recent_lists.recent_rows
    from candidate_lists
    left join profiles
        on candidate_lists.snapshot = profiles.snapshot
        and candidate_lists.user_id = profiles.user_id
    left join recent_lists
        on candidate_lists.snapshot = recent_lists.snapshot
        and candidate_lists.user_id = recent_lists.user_id
)

select * from inputs
