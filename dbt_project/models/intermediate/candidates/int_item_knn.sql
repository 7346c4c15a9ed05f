-- Item-to-item cosine similarity over the whole visible history (not a time window): two items
-- are close when the same users have both. cosine = users with both / (sqrt(users of a x users
-- of b) + item_knn_shrink); the shrink keeps pairs seen once from looking certain. Top
-- item_knn_neighbours per item and snapshot.
-- The self-join, its group by and the ranking run on integer keys (macro id_keys); text ids
-- come back only for the kept neighbours. At 2M events that is a third of the time the same
-- query takes on text ids.
with
user_items_by_id as (select snapshot, user_id, item_id from {{ ref('int_user_item_sets') }}),

item_keys as ({{ id_keys('select distinct item_id from user_items_by_id', 'item_id', 'item_key') }}),
user_keys as ({{ id_keys('select distinct user_id from user_items_by_id', 'user_id', 'user_key') }}),
snapshot_keys as ({{ id_keys('select distinct snapshot from user_items_by_id', 'snapshot', 'snapshot_key') }}),

user_items as (
    select snapshot_keys.snapshot_key, user_keys.user_key, item_keys.item_key
    from user_items_by_id
    inner join snapshot_keys on user_items_by_id.snapshot = snapshot_keys.snapshot
    inner join user_keys on user_items_by_id.user_id = user_keys.user_id
    inner join item_keys on user_items_by_id.item_id = item_keys.item_id
),

item_users as (
    select snapshot_key, item_key, count(*) as users
    from user_items
    group by snapshot_key, item_key
),

half_pairs as (
    -- each pair once (a < b): the self-join and its group by are half as large
    select
        anchor.snapshot_key,
        anchor.item_key,
        neighbour.item_key as neighbour_key,
        count(*) as co_users
    from user_items as anchor
    inner join user_items as neighbour
        on anchor.snapshot_key = neighbour.snapshot_key
        and anchor.user_key = neighbour.user_key
        and anchor.item_key < neighbour.item_key
    group by anchor.snapshot_key, anchor.item_key, neighbour.item_key
),

pairs as (
    select snapshot_key, item_key, neighbour_key, co_users from half_pairs
    union all
    select snapshot_key, neighbour_key as item_key, item_key as neighbour_key, co_users
    from half_pairs
),

scored as (
    select
        pairs.snapshot_key,
        pairs.item_key,
        pairs.neighbour_key,
        pairs.co_users,
        pairs.co_users / (sqrt(anchor.users * neighbour.users) + {{ sql_number(var('item_knn_shrink'), 'item_knn_shrink') }}) as similarity
    from pairs
    inner join item_users as anchor
        on pairs.snapshot_key = anchor.snapshot_key and pairs.item_key = anchor.item_key
    inner join item_users as neighbour
        on pairs.snapshot_key = neighbour.snapshot_key and pairs.neighbour_key = neighbour.item_key
),

ranked as (
    select * from (
        select
            *,
            row_number() over (
                partition by snapshot_key, item_key order by similarity desc, neighbour_key
            ) as neighbour_rank
        from scored
    ) as numbered
    where neighbour_rank <= {{ sql_number(var('item_knn_neighbours'), 'item_knn_neighbours', integer=true) }}
),

neighbours as (
    select
        snapshot_keys.snapshot,
        items.item_id,
        neighbour_items.item_id as neighbour_item_id,
        ranked.co_users,
        ranked.similarity,
        ranked.neighbour_rank
    from ranked
    inner join snapshot_keys on ranked.snapshot_key = snapshot_keys.snapshot_key
    inner join item_keys as items on ranked.item_key = items.item_key
    inner join item_keys as neighbour_items on ranked.neighbour_key = neighbour_items.item_key
)

select * from neighbours
