-- The user's own items before the cutoff, by recency-weighted frequency: staples come back.
with
users as (select snapshot, user_id from {{ ref('int_snapshot_users') }}),
history as (select * from {{ ref('int_user_item_history') }}),

scored as (
    select
        history.snapshot,
        history.user_id,
        history.item_id,
        'repurchase' as generator,
        history.recency_weight as score,
        row_number() over (
            partition by history.snapshot, history.user_id
            order by history.recency_weight desc, history.item_id
        ) as generator_rank
    from history
    inner join users on history.snapshot = users.snapshot and history.user_id = users.user_id
),

candidates as (
    select * from scored where generator_rank <= {{ sql_number(var('candidates_repurchase'), 'candidates_repurchase', integer=true) }}
)

select * from candidates
