-- Each user's last recent_items distinct items before the cutoff, with a recency weight:
-- the seeds of the covisit and content generators and of the sim_recent_ features.
with
users as (select snapshot, user_id from {{ ref('int_snapshot_users') }}),
history as (select * from {{ ref('int_user_item_history') }}),

recent as (
    select
        history.snapshot,
        history.user_id,
        history.item_id,
        history.days_since_last,
        exp(-ln(2) * history.days_since_last / {{ sql_number(var('recency_half_life_days'), 'recency_half_life_days') }}) as recency_weight,
        history.recency_rank
    from history
    inner join users on history.snapshot = users.snapshot and history.user_id = users.user_id
    where history.recency_rank <= {{ sql_number(var('recent_items'), 'recent_items', integer=true) }}
)

select * from recent
