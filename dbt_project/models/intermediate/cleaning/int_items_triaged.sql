-- Every catalog row (or, without a catalog, every item id of the log) with the gaps filled
-- from the log, text normalised (NFKC, whitespace) and the first reason it cannot be kept:
-- a missing id, a repeated id (the first row wins) or a service line (non_product). The one
-- place the catalog rules live; int_items_clean and int_items_rejected split it.
with
items as (select * from {{ ref('stg_items') }}),
from_log as (select * from {{ ref('int_items_from_log') }}),

ranked as (
    select
        *,
        row_number() over (partition by item_id order by raw_row_id) as copy_number
    from items
),

cleaned as (
    select
        ranked.raw_row_id,
        ranked.item_id,
        ranked.copy_number,
        coalesce({{ clean_text('ranked.title') }}, from_log.title) as title,
        coalesce({{ clean_text('ranked.description') }}, from_log.description) as description,
        coalesce({{ clean_text('ranked.category') }}, from_log.category) as category,
        coalesce({{ clean_text('ranked.brand') }}, from_log.brand) as brand,
        coalesce(case when ranked.price > 0 then ranked.price end, from_log.price) as price,
        ranked.created_at,
        ranked.available
    from ranked
    left join from_log on ranked.item_id = from_log.item_id
),

triaged as (
    select
        raw_row_id,
        item_id,
        coalesce(title, 'item ' || item_id) as title,
        description,
        coalesce(category, 'unknown') as category,
        brand,
        price,
        created_at,
        available,
        case
            when item_id is null then 'missing_item_id'
            when copy_number > 1 then 'duplicate_item_id'
            when {{ is_non_product('item_id', 'title') }} then 'non_product'
        end as reason
    from cleaned
)

select * from triaged
