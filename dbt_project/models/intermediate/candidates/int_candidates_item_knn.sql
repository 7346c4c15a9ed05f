-- Item-kNN: items most similar (int_item_knn) to everything the user had before the cutoff,
-- scored by the sum of similarities: the classic collaborative neighbourhood recommender.
-- users x their items x neighbours is summed and ranked on integer keys (macro id_keys); text
-- ids come back only for the kept rows.
with
user_keys as ({{ id_keys('select snapshot, user_id from ' ~ ref('int_snapshot_users'), 'snapshot, user_id', 'user_key') }}),
neighbours_by_id as (select snapshot, item_id, neighbour_item_id, similarity from {{ ref('int_item_knn') }}),

item_keys as ({{ id_keys('select item_id from neighbours_by_id union select neighbour_item_id from neighbours_by_id', 'item_id', 'item_key') }}),
snapshot_keys as ({{ id_keys('select distinct snapshot from user_keys', 'snapshot', 'snapshot_key') }}),

users as (
    select user_keys.snapshot, user_keys.user_id, user_keys.user_key, snapshot_keys.snapshot_key
    from user_keys
    inner join snapshot_keys on user_keys.snapshot = snapshot_keys.snapshot
),

user_items as (
    select users.snapshot_key, users.user_key, item_keys.item_key
    from {{ ref('int_user_item_sets') }} as sets
    inner join users on sets.snapshot = users.snapshot and sets.user_id = users.user_id
    inner join item_keys on sets.item_id = item_keys.item_id
),

neighbours as (
    select
        snapshot_keys.snapshot_key,
        items.item_key,
        neighbour_items.item_key as neighbour_key,
        neighbours_by_id.similarity
    from neighbours_by_id
    inner join snapshot_keys on neighbours_by_id.snapshot = snapshot_keys.snapshot
    inner join item_keys as items on neighbours_by_id.item_id = items.item_id
    inner join item_keys as neighbour_items on neighbours_by_id.neighbour_item_id = neighbour_items.item_id
),

scored as (
    select
        user_items.user_key,
        neighbours.neighbour_key as item_key,
        -- rounded: a parallel float sum differs in its last bits from run to run, so would ties' ranks
        round(sum(neighbours.similarity), 9) as score
    from user_items
    inner join neighbours
        on user_items.snapshot_key = neighbours.snapshot_key and user_items.item_key = neighbours.item_key
    group by user_items.user_key, neighbours.neighbour_key
),

ranked as ({{ top_unseen_keys('scored', 'users', 'item_keys', sql_number(var('candidates_item_knn'), 'candidates_item_knn', integer=true)) }}),

candidates as (
    select
        users.snapshot,
        users.user_id,
        item_keys.item_id,
        'item_knn' as generator,
        ranked.score,
        ranked.generator_rank
    from ranked
    inner join users on ranked.user_key = users.user_key
    inner join item_keys on ranked.item_key = item_keys.item_key
)

select * from candidates
