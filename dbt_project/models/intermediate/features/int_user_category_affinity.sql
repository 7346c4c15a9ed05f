-- Share of each user's events per category before the cutoff (category_rank 1 = favourite),
-- how long ago the user last had the category, and, in a ratings log, the user's mean rating
-- of the category's items (null without ratings).
-- One row per snapshot, user and category.
with
events as (select * from {{ ref('int_events_before_cutoff') }}),
items as (select item_id, category from {{ ref('int_item_categories') }}),

counted as (
    select
        events.snapshot,
        events.user_id,
        items.category,
        count(*) as events,
        min(events.age_days) as days_since_last,
        avg(events.rating) as rating_mean
    from events
    inner join items on events.item_id = items.item_id
    group by events.snapshot, events.user_id, items.category
),

shared as (
    select
        *,
        events / sum(events) over (partition by snapshot, user_id) as share,
        count(*) over (partition by snapshot, user_id) as category_count,
        row_number() over (partition by snapshot, user_id order by events desc, category) as category_rank
    from counted
)

select * from shared
