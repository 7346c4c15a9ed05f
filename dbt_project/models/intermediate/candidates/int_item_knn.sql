-- Item-to-item cosine similarity over the whole visible history (not a time window): two items
-- are close when the same users have both. cosine = users with both / (sqrt(users of a x users
-- of b) + item_knn_shrink); the shrink keeps pairs seen once from looking certain. Top
-- item_knn_neighbours per item and snapshot.
with
user_items as (select snapshot, user_id, item_id from {{ ref('int_user_item_sets') }}),

item_users as (
    select snapshot, item_id, count(*) as users
    from user_items
    group by snapshot, item_id
),

half_pairs as (
    -- each pair once (a < b): the self-join and its group by are half as large
    select
        anchor.snapshot,
        anchor.item_id,
        neighbour.item_id as neighbour_item_id,
        count(*) as co_users
    from user_items as anchor
    inner join user_items as neighbour
        on anchor.snapshot = neighbour.snapshot
        and anchor.user_id = neighbour.user_id
        and anchor.item_id < neighbour.item_id
    group by anchor.snapshot, anchor.item_id, neighbour.item_id
),

pairs as (
    select snapshot, item_id, neighbour_item_id, co_users from half_pairs
    union all
    select snapshot, neighbour_item_id as item_id, item_id as neighbour_item_id, co_users
    from half_pairs
),

scored as (
    select
        pairs.snapshot,
        pairs.item_id,
        pairs.neighbour_item_id,
        pairs.co_users,
        pairs.co_users / (sqrt(anchor.users * neighbour.users) + {{ sql_number(var('item_knn_shrink'), 'item_knn_shrink') }}) as similarity
    from pairs
    inner join item_users as anchor
        on pairs.snapshot = anchor.snapshot and pairs.item_id = anchor.item_id
    inner join item_users as neighbour
        on pairs.snapshot = neighbour.snapshot and pairs.neighbour_item_id = neighbour.item_id
),

ranked as (
    select
        *,
        row_number() over (
            partition by snapshot, item_id order by similarity desc, neighbour_item_id
        ) as neighbour_rank
    from scored
),

neighbours as (
    select * from ranked where neighbour_rank <= {{ sql_number(var('item_knn_neighbours'), 'item_knn_neighbours', integer=true) }}
)

select * from neighbours
