-- What each user did with each item before the cutoff: how often, how recently, and a
-- recency-weighted count (half-life var recency_half_life_days), and its repeat cycle: the
-- mean gap between the days the user had it, and how far into the next gap the cutoff falls
-- (due_ratio 1 = as long since the last time as the user usually waits), and the user's visits
-- (orders, or days without order ids) since the last one that held it. One row per snapshot,
-- user and item, ranked by recency within the user. The base of the repurchase generator, the
-- user_item_ features and the seeds of the other generators.
with
visible as {{ inline_cte() }} (
    -- read twice (visits, events): inlined, a copy of every visible event took longer
    select
        *,
        -- a visit: the order, or the day when the log has no order ids
        coalesce(order_id, concat('day ', cast(floor(age_days) as {{ dbt.type_string() }}))) as visit_key
    from {{ ref('int_events_before_cutoff') }}
),

visits as (
    -- the user's visits, 1 = the latest
    select
        snapshot,
        user_id,
        visit_key,
        row_number() over (partition by snapshot, user_id order by min(age_days), visit_key) as visit_rank
    from visible
    group by snapshot, user_id, visit_key
),

events as (
    select visible.*, visits.visit_rank
    from visible
    inner join visits
        on visible.snapshot = visits.snapshot
        and visible.user_id = visits.user_id
        and visible.visit_key = visits.visit_key
),

history as (
    select
        snapshot,
        cutoff_ts,
        user_id,
        item_id,
        count(*) as times_bought,
        sum(quantity) as quantity,
        min(visit_rank) - 1 as visits_since_last,
        min(age_days) as days_since_last,
        max(age_days) as days_since_first,
        count(distinct floor(age_days)) as days_bought,
        count(*) filter (where age_days <= 30) as events_30d,
        -- rounded: a parallel float sum differs in its last bits from run to run, and ranks must not
        round(sum(exp(-ln(2) * age_days / {{ sql_number(var('recency_half_life_days'), 'recency_half_life_days') }})), 9) as recency_weight
    from events
    group by snapshot, cutoff_ts, user_id, item_id
),

cycles as (
    select
        *,
        case when days_bought > 1 then (days_since_first - days_since_last) / (days_bought - 1) end as mean_gap_days
    from history
),

ranked as (
    select
        *,
        days_since_last / nullif(mean_gap_days, 0) as due_ratio,
        -- 1 = the item the user had most recently: the generators' seeds are the first N
        row_number() over (
            partition by snapshot, user_id order by days_since_last, item_id
        ) as recency_rank
    from cycles
)

select * from ranked
