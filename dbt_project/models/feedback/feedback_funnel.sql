-- The funnel of served lists: per run, shown position and reason, how many shown items were
-- clicked, put in a cart and bought. A shown item is one (request_id, item_id) pair; each stage
-- counts pairs that reached it, so a double click or a bought item without a logged impression
-- is not counted twice (stages are counted on their own, rates divide by impressions).
-- One row per run, position and reason.
with
events as (
    select request_id, run_id, model_version, item_id, position, event_type,
        coalesce(reason, 'unknown') as reason
    from {{ ref('stg_feedback_events') }}
),

shown_items as (
    select
        run_id,
        position,
        reason,
        request_id,
        item_id,
        max(model_version) as model_version,
        max(case when event_type = 'impression' then 1 else 0 end) as was_shown,
        max(case when event_type = 'click' then 1 else 0 end) as was_clicked,
        max(case when event_type = 'add_to_cart' then 1 else 0 end) as was_carted,
        max(case when event_type = 'purchase' then 1 else 0 end) as was_bought
    from events
    group by run_id, position, reason, request_id, item_id
),

counted as (
    select
        run_id,
        position,
        reason,
        max(model_version) as model_version,
        count(distinct request_id) as lists,
        sum(was_shown) as impressions,
        sum(was_clicked) as clicks,
        sum(was_carted) as add_to_carts,
        sum(was_bought) as purchases
    from shown_items
    group by run_id, position, reason
),

funnel as (
    select
        counted.*,
        cast(clicks as double) / nullif(impressions, 0) as ctr,
        cast(add_to_carts as double) / nullif(impressions, 0) as add_to_cart_rate,
        cast(purchases as double) / nullif(impressions, 0) as conversion_rate
    from counted
)

select * from funnel
