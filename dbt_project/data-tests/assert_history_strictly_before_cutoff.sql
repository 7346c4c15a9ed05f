-- The leakage guard at work: everything a snapshot's features read happened strictly before
-- its cutoff.
with
visible as (select * from {{ ref('int_events_before_cutoff') }}),

leaks as (
    select visible.snapshot, visible.user_id, visible.item_id, visible.event_ts, visible.cutoff_ts
    from visible
    where visible.event_ts >= visible.cutoff_ts or visible.age_days <= 0
)

select * from leaks
