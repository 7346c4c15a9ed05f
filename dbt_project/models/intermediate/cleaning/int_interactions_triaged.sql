-- Every staged event with the first reason it cannot be kept (null = kept). The one place the
-- cleaning rules live; int_interactions_clean and int_interactions_rejected split it, so kept
-- and rejected reconcile to the raw rows by construction. Every var reaches the SQL as a
-- checked literal (macros/sql_literal.sql).
with
events as (select * from {{ ref('stg_interactions') }}),
items as (select item_id, price as list_price from {{ ref('int_items_clean') }}),
service_items as (
    select distinct item_id from {{ ref('int_items_rejected') }} where reason = 'non_product'
),

flagged as (
    select
        events.*,
        (events.quantity < 0 or events.event_type in (
            {{ sql_string_list(var('return_event_types'), 'return_event_types') or "''" }}
        )) as is_return,
        items.item_id is not null as is_known_item,
        items.list_price,
        service_items.item_id is not null
            or {{ is_non_product('events.item_id', 'events.title') }} as is_non_product
    from events
    left join items on events.item_id = items.item_id
    left join service_items on events.item_id = service_items.item_id
),

-- the price a paid price is compared with: the catalog's list price, else the item's median
observed_prices as (
    select item_id, median(price) as median_price
    from flagged
    where price > 0 and not is_return
    group by item_id
),

with_reason as (
    select
        flagged.*,
        case
            when flagged.user_id is null then 'missing_user_id'
            when flagged.item_id is null then 'missing_item_id'
            when flagged.event_ts is null then 'invalid_event_ts'
            when flagged.event_ts > {{ sql_timestamp(var('as_of_ts'), 'as_of_ts') if var('as_of_ts') else 'cast(current_timestamp as timestamp)' }}
                then 'future_event_ts'
            when flagged.is_non_product then 'non_product'
            when flagged.quantity is null then 'invalid_quantity'
            when flagged.price_raw is not null then 'invalid_price'
            when flagged.is_return then 'return'
            when flagged.quantity = 0 then 'zero_quantity'
            when not flagged.is_known_item then 'unknown_item'
            {%- if sql_boolean(var('reject_non_positive_price'), 'reject_non_positive_price') == 'true' %}
            when flagged.price <= 0 then 'non_positive_price'
            {%- endif %}
            -- no shop's price: a barcode or an order number in the price column (and past the
            -- exact decimal sums the price features take)
            when abs(flagged.price) >= 1e12 then 'price_out_of_range'
            when flagged.price > 0
                and abs(ln(flagged.price / case when flagged.list_price > 0 then flagged.list_price else observed_prices.median_price end))
                    > ln({{ sql_number(var('price_outlier_factor'), 'price_outlier_factor', minimum=1) }})
                then 'price_outlier'
        end as reason
    from flagged
    left join observed_prices on flagged.item_id = observed_prices.item_id
),

-- exact repeats of a valid event: the first copy is kept, the others are 'duplicate'
numbered as (
    select
        *,
        row_number() over (
            partition by user_id, item_id, event_ts, event_type, quantity, price, order_id, rating
            order by raw_row_id
        ) as copy_number
    from with_reason
),

deduplicated as (
    select
        {{ star_except(['copy_number', 'reason']) }},
        case when reason is null and copy_number > 1 then 'duplicate' else reason end as reason
    from numbered
),

-- one event per order and item: the repeated lines of an order (same user, item, order id
-- and event type) add their quantity to the first line, whose price becomes the
-- quantity-weighted mean; the others are 'merged_line'
order_lines as (
    select
        *,
        reason is null and order_id is not null as is_order_line,
        row_number() over (
            partition by reason is null and order_id is not null, user_id, item_id, order_id, event_type
            order by raw_row_id
        ) as line_number,
        sum(quantity) over (
            partition by reason is null and order_id is not null, user_id, item_id, order_id, event_type
        ) as order_quantity,
        sum(quantity * price) over (
            partition by reason is null and order_id is not null, user_id, item_id, order_id, event_type
        ) / nullif(sum(case when price is not null then quantity end) over (
            partition by reason is null and order_id is not null, user_id, item_id, order_id, event_type
        ), 0) as order_price
    from deduplicated
),

merged as (
    select
        {{ star_except(['is_order_line', 'line_number', 'order_quantity', 'order_price', 'quantity', 'price', 'reason']) }},
        case when is_order_line and line_number = 1 then order_quantity else quantity end as quantity,
        case when is_order_line and line_number = 1 then order_price else price end as price,
        case when is_order_line and line_number > 1 then 'merged_line' else reason end as reason
    from order_lines
),

-- coverage filters (off at 1): counted over the kept events of the whole log
user_counts as (
    select user_id, count(*) as events from merged where reason is null group by user_id
),

item_counts as (
    select item_id, count(*) as events from merged where reason is null group by item_id
),

triaged as (
    select
        {{ star_except(['reason'], 'merged') }},
        case
            when merged.reason is not null then merged.reason
            when user_counts.events < {{ sql_number(var('min_events_per_user'), 'min_events_per_user', integer=true) }} then 'below_min_user_events'
            when item_counts.events < {{ sql_number(var('min_events_per_item'), 'min_events_per_item', integer=true) }} then 'below_min_item_events'
        end as reason
    from merged
    left join user_counts on merged.user_id = user_counts.user_id
    left join item_counts on merged.item_id = item_counts.item_id
)

select * from triaged
