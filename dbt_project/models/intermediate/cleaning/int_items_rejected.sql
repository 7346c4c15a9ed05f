-- Catalog rows not kept, with the reason: a missing id, a repeated id (first row wins) or a
-- service line (non_product_item_ids / non_product_titles).
with
triaged as (select * from {{ ref('int_items_triaged') }}),

rejected as (
    select raw_row_id, reason, item_id, title
    from triaged
    where reason is not null
)

select * from rejected
