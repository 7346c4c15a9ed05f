-- How much each item the user had before the cutoff counts in their profile vector: its
-- recency-weighted count (half-life var recency_half_life_days), with the dense row numbers
-- the Python model int_user_profiles multiplies by. One row per snapshot, user and item.
{{ config(enabled=python_models_enabled()) }}  {#- reads Python models: DuckDB only -#}
with
users as (select snapshot, user_id from {{ ref('int_snapshot_users') }}),
history as (select * from {{ ref('int_user_item_history') }}),
embeddings as (select item_id, item_row from {{ ref('int_item_embeddings') }}),

weights as (
    select
        history.snapshot,
        history.user_id,
        history.item_id,
        embeddings.item_row,
        history.recency_weight as weight,
        dense_rank() over (order by history.snapshot, history.user_id) - 1 as profile_row
    from history
    inner join users on history.snapshot = users.snapshot and history.user_id = users.user_id
    inner join embeddings on history.item_id = embeddings.item_id
)

select * from weights
