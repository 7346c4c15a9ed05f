-- One row per raw event not kept, with the reason (the first rule it broke, in the order of
-- int_interactions_triaged; 'merged_line' = a repeated line of an order, added to its first
-- line). Kept + rejected = every raw row.
with
triaged as (select * from {{ ref('int_interactions_triaged') }}),

rejected as (
    select
        raw_row_id,
        reason,
        user_id,
        item_id,
        event_ts_raw,
        event_type,
        quantity,
        quantity_raw,
        price,
        price_raw,
        order_id
    from triaged
    where reason is not null
)

select * from rejected
