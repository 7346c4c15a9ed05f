-- Each user's behaviour before the cutoff: activity, recency, tenure, price level and spread,
-- repurchase habit, favourite category. One row per snapshot and user with history. The price
-- level and spread come from exact decimal sums: a parallel float sum differs in its last bits
-- from run to run (37,689 of the demo's 46,761 users between two builds), and a feature must
-- not, or the same data would not give the same lists.
{%- set price = 'cast(price as decimal(18, 6))' %}
with
events as (select * from {{ ref('int_events_before_cutoff') }}),
user_items as (select * from {{ ref('int_user_item_history') }}),
affinity as (select * from {{ ref('int_user_category_affinity') }}),
users as (select user_id, signup_ts from {{ ref('stg_users') }}),

activity as (
    select
        snapshot,
        cutoff_ts,
        user_id,
        count(*) as events,
        count(*) filter (where age_days <= 30) as events_30d,
        count(distinct item_id) as distinct_items,
        count(distinct coalesce(order_id, cast(event_ts as {{ dbt.type_string() }}))) as orders,
        min(age_days) as days_since_last_event,
        max(age_days) as days_since_first_event,
        cast(sum({{ price }}) as double) / nullif(count(price), 0) as avg_price,
        avg(rating) as rating_mean,
        case when count(price) > 1 then sqrt(
            cast(count(price) * sum({{ price }} * {{ price }}) - sum({{ price }}) * sum({{ price }}) as double)
            / (count(price) * (count(price) - 1))
        ) end as price_std
    from events
    group by snapshot, cutoff_ts, user_id
),

repurchase as (
    select
        snapshot,
        user_id,
        avg(case when times_bought > 1 then 1e0 else 0e0 end) as repurchase_rate  -- e0: a double on every engine
    from user_items
    group by snapshot, user_id
),

top_category as (
    select snapshot, user_id, category as top_category, share as top_category_share, category_count
    from affinity
    where category_rank = 1
),

aggregates as (
    select
        activity.*,
        greatest(
            activity.days_since_first_event,
            coalesce({{ days_between('users.signup_ts', 'activity.cutoff_ts') }}, 0)
        ) as tenure_days,
        repurchase.repurchase_rate,
        top_category.top_category,
        top_category.top_category_share,
        top_category.category_count
    from activity
    left join repurchase
        on activity.snapshot = repurchase.snapshot and activity.user_id = repurchase.user_id
    left join top_category
        on activity.snapshot = top_category.snapshot and activity.user_id = top_category.user_id
    left join users
        on activity.user_id = users.user_id and users.signup_ts < activity.cutoff_ts
)

select * from aggregates
