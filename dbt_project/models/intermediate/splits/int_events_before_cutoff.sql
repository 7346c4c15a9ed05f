-- Every kept event paired with each snapshot it is visible to (macro visible_at): the single
-- door through which point-in-time models read history. A table: seven feature and candidate
-- models read it, and the range join is cheaper done once than seven times.

with
events as (select * from {{ ref('int_interactions_clean') }}),
snapshots as (select snapshot, split, cutoff_ts from {{ ref('int_snapshots') }}),

visible as (
    select
        snapshots.snapshot,
        snapshots.split,
        snapshots.cutoff_ts,
        events.user_id,
        events.item_id,
        events.event_ts,
        events.event_type,
        events.quantity,  -- as bought: a partial return is only known after it happens
        events.price,
        events.order_id,
        events.rating,
        {{ days_between('events.event_ts', 'snapshots.cutoff_ts') }} as age_days
    from snapshots
    inner join events
        on {{ visible_at('events', 'snapshots.cutoff_ts') }}
)

select * from visible
