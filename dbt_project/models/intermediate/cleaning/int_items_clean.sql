-- One row per catalog item: text normalised (NFKC, whitespace), gaps filled from the log (the
-- most frequent title, ... the log records; int_items_from_log), a missing title replaced by
-- the id; repeated ids and service lines are in int_items_rejected.
with
triaged as (select * from {{ ref('int_items_triaged') }}),

clean as (
    select item_id, title, description, category, brand, price, created_at, available
    from triaged
    where reason is null
)

select * from clean
