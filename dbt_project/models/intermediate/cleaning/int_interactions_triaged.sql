-- Every staged event with the first reason it cannot be kept (null = kept). The one place the
-- cleaning rules live; int_interactions_clean and int_interactions_rejected split it, so kept
-- and rejected reconcile to the raw rows by construction.
{%- set return_types = var('return_event_types') %}
with
events as (select * from {{ ref('stg_interactions') }}),
items as (select item_id, price as list_price from {{ ref('int_items_clean') }}),

flagged as (
    select
        events.*,
        (events.quantity < 0 or events.event_type in (
            {%- for t in return_types %}'{{ t }}'{{ ', ' if not loop.last }}{% endfor -%}
        )) as is_return,
        items.item_id is not null as is_known_item,
        items.list_price
    from events
    left join items on events.item_id = items.item_id
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
            when flagged.event_ts > {{ "cast('" ~ var('as_of_ts') ~ "' as timestamp)" if var('as_of_ts') else 'cast(current_timestamp as timestamp)' }}
                then 'future_event_ts'
            when flagged.is_return then 'return'
            when flagged.quantity = 0 then 'zero_quantity'
            when not flagged.is_known_item then 'unknown_item'
            {%- if var('reject_non_positive_price') %}
            when flagged.price <= 0 then 'non_positive_price'
            {%- endif %}
            when flagged.price > 0
                and abs(ln(flagged.price / case when flagged.list_price > 0 then flagged.list_price else observed_prices.median_price end))
                    > ln({{ var('price_outlier_factor') }})
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
        * exclude (copy_number, reason),
        case when reason is null and copy_number > 1 then 'duplicate' else reason end as reason
    from numbered
),

-- coverage filters (off at 1): counted over the kept events of the whole log
user_counts as (
    select user_id, count(*) as events from deduplicated where reason is null group by user_id
),

item_counts as (
    select item_id, count(*) as events from deduplicated where reason is null group by item_id
),

triaged as (
    select
        deduplicated.* exclude (reason),
        case
            when deduplicated.reason is not null then deduplicated.reason
            when user_counts.events < {{ var('min_events_per_user') }} then 'below_min_user_events'
            when item_counts.events < {{ var('min_events_per_item') }} then 'below_min_item_events'
        end as reason
    from deduplicated
    left join user_counts on deduplicated.user_id = user_counts.user_id
    left join item_counts on deduplicated.item_id = item_counts.item_id
)

select * from triaged
