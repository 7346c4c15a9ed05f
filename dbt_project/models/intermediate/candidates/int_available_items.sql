-- Items that exist as of each cutoff: created before it (catalog date) or, without a date,
-- seen in a visible event. Nothing launched later may be recommended for that snapshot. The
-- catalog's stock flag (items_columns: {available: <column>}) is today's: an item marked not
-- available leaves the serve snapshot only; past snapshots keep what was on sale then.
with
snapshots as (select snapshot, split, cutoff_ts from {{ ref('int_snapshots') }}),
items as (select item_id, created_at, available from {{ ref('int_items_clean') }}),
seen as (select distinct snapshot, item_id from {{ ref('int_item_popularity') }}),

available as (
    select snapshots.snapshot, items.item_id
    from snapshots
    cross join items
    where {{ before_cutoff('items.created_at', 'snapshots.cutoff_ts') }}
    union
    select snapshot, item_id from seen
),

in_stock as (
    select available.snapshot, available.item_id
    from available
    inner join snapshots on available.snapshot = snapshots.snapshot
    left join items on available.item_id = items.item_id
    where not (snapshots.split = 'serve' and coalesce(items.available, true) = false)
)

select * from in_stock
