-- Share of each user's events per brand before the cutoff. One row per snapshot, user, brand.
with
events as (select * from {{ ref('int_events_before_cutoff') }}),
items as (select item_id, brand from {{ ref('int_items_clean') }} where brand is not null),

counted as (
    select events.snapshot, events.user_id, items.brand, count(*) as events
    from events
    inner join items on events.item_id = items.item_id
    group by events.snapshot, events.user_id, items.brand
),

shared as (
    select *, events / sum(events) over (partition by snapshot, user_id) as share
    from counted
)

select * from shared
