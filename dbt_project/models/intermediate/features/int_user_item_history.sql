-- What each user did with each item before the cutoff: how often, how recently, and a
-- recency-weighted count (half-life var recency_half_life_days). One row per snapshot, user
-- and item, ranked by recency within the user. The base of the repurchase generator, the
-- user_item_ features and the seeds of the other generators.
with
events as (select * from {{ ref('int_events_before_cutoff') }}),

history as (
    select
        snapshot,
        cutoff_ts,
        user_id,
        item_id,
        count(*) as times_bought,
        sum(quantity) as quantity,
        min(age_days) as days_since_last,
        max(age_days) as days_since_first,
        -- rounded: a parallel float sum differs in its last bits from run to run, and ranks must not
        round(sum(exp(-ln(2) * age_days / {{ sql_number(var('recency_half_life_days'), 'recency_half_life_days') }})), 9) as recency_weight
    from events
    group by snapshot, cutoff_ts, user_id, item_id
),

ranked as (
    select
        *,
        -- 1 = the item the user had most recently: the generators' seeds are the first N
        row_number() over (
            partition by snapshot, user_id order by days_since_last, item_id
        ) as recency_rank
    from history
)

select * from ranked
