-- Items that exist as of each cutoff: created before it (catalog date) or, without a date,
-- seen in a visible event. Nothing launched later may be recommended for that snapshot.
with
snapshots as (select snapshot, cutoff_ts from {{ ref('int_snapshots') }}),
items as (select item_id, created_at from {{ ref('int_items_clean') }}),
seen as (select distinct snapshot, item_id from {{ ref('int_item_popularity') }}),

available as (
    select snapshots.snapshot, items.item_id
    from snapshots
    cross join items
    where {{ before_cutoff('items.created_at', 'snapshots.cutoff_ts') }}
    union
    select snapshot, item_id from seen
)

select * from available
