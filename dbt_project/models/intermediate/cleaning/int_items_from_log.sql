-- Item attributes as the log records them, for a catalog built from the log (items_path:
-- false) or to fill the gaps of one: per item, the most frequent non-empty cleaned value of
-- each text column wins (ties: the value seen last, then the smaller text), and the price is
-- the median positive price paid. One row per item id in the log.
{%- set attributes = ['title', 'description', 'category', 'brand'] %}
with
events as (
    select item_id, event_ts, quantity, price, {{ attributes | join(', ') }}
    from {{ ref('stg_interactions') }}
    where item_id is not null
),

-- each raw value once per item before the (Python) text cleaning
raw_values as (
    {%- for attribute in attributes %}
    select item_id, '{{ attribute }}' as attribute, {{ attribute }} as value, count(*) as events, max(event_ts) as last_seen
    from events
    where {{ attribute }} is not null
    group by item_id, {{ attribute }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

cleaned_values as (
    select item_id, attribute, {{ clean_text('value') }} as value, events, last_seen
    from raw_values
),

counted as (
    select item_id, attribute, value, sum(events) as events, max(last_seen) as last_seen
    from cleaned_values
    where value is not null
    group by item_id, attribute, value
),

ranked as (
    select
        *,
        row_number() over (
            partition by item_id, attribute
            order by events desc, last_seen desc nulls last, value
        ) as preference
    from counted
),

paid_prices as (
    select item_id, median(price) as price
    from events
    where price > 0 and quantity > 0
    group by item_id
),

item_ids as (select distinct item_id from events),

from_log as (
    select
        item_ids.item_id,
        {%- for attribute in attributes %}
        max(case when ranked.attribute = '{{ attribute }}' then ranked.value end) as {{ attribute }},
        {%- endfor %}
        max(paid_prices.price) as price
    from item_ids
    left join ranked on item_ids.item_id = ranked.item_id and ranked.preference = 1
    left join paid_prices on item_ids.item_id = paid_prices.item_id
    group by item_ids.item_id
)

select * from from_log
