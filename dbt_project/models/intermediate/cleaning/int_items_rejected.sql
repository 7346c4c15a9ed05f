-- Catalog rows not kept, with the reason: a missing id or a repeated id (first row wins).
with
items as (select * from {{ ref('stg_items') }}),

ranked as (
    select
        *,
        row_number() over (partition by item_id order by raw_row_id) as copy_number
    from items
),

rejected as (
    select
        raw_row_id,
        case when item_id is null then 'missing_item_id' else 'duplicate_item_id' end as reason,
        item_id,
        title
    from ranked
    where item_id is null or copy_number > 1
)

select * from rejected
