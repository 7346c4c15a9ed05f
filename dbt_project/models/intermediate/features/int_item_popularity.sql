-- Events per item before each snapshot's cutoff: counts in windows ending at the cutoff
-- (var popularity_window_days), unique users, a short-vs-long trend, recency and age, and how
-- its buyers come back to it (the share who had it on more than one day, their median gap).
-- One row per snapshot and item with any visible event.
with
events as (select * from {{ ref('int_events_before_cutoff') }}),
items as (select item_id, created_at from {{ ref('int_items_clean') }}),
user_items as (select * from {{ ref('int_user_item_history') }}),

repeats as (
    select
        snapshot,
        item_id,
        avg(case when days_bought > 1 then 1e0 else 0e0 end) as repeat_rate,  -- e0: a double on every engine
        median(mean_gap_days) as median_gap_days
    from user_items
    group by snapshot, item_id
),

counted as (
    select
        snapshot,
        cutoff_ts,
        item_id,
        {% for days in var('popularity_window_days') -%}
        count(*) filter (where age_days <= {{ sql_number(days, 'popularity_window_days', integer=true) }}) as events_{{ days }}d,
        {% endfor -%}
        count(distinct user_id) filter (where age_days <= 30) as users_30d,
        count(*) as events_total,
        count(distinct user_id) as unique_users,
        avg(rating) as rating_mean,  -- null where the log has no ratings
        count(rating) as rating_count,
        min(event_ts) as first_event_ts,
        min(age_days) as days_since_last_event
    from events
    group by snapshot, cutoff_ts, item_id
),

popularity as (
    select
        counted.*,
        repeats.repeat_rate,
        repeats.median_gap_days,
        -- daily rate over the last 7 days vs the last 30: > 1 = rising
        (counted.events_7d / 7e0) / ((counted.events_30d + 1) / 30e0) as trend_7d_30d,
        {{ days_between('least(coalesce(items.created_at, counted.first_event_ts), counted.first_event_ts)', 'counted.cutoff_ts') }} as age_days
    from counted
    left join items on counted.item_id = items.item_id
    left join repeats on counted.snapshot = repeats.snapshot and counted.item_id = repeats.item_id
)

select * from popularity
