-- One row per catalog item: text normalised (NFKC, whitespace), the first row kept when an
-- id repeats (the others go to int_items_rejected), a missing title replaced by the id.
with
items as (select * from {{ ref('stg_items') }}),

ranked as (
    select
        *,
        row_number() over (partition by item_id order by raw_row_id) as copy_number
    from items
    where item_id is not null
),

cleaned as (
    select
        item_id,
        coalesce({{ clean_text('title') }}, 'item ' || item_id) as title,
        {{ clean_text('description') }} as description,
        coalesce({{ clean_text('category') }}, 'unknown') as category,
        {{ clean_text('brand') }} as brand,
        case when price > 0 then price end as price,
        created_at
    from ranked
    where copy_number = 1
)

select * from cleaned
