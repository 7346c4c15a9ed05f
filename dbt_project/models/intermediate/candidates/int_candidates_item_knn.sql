-- Item-kNN: items most similar (int_item_knn) to everything the user had before the cutoff,
-- scored by the sum of similarities: the classic collaborative neighbourhood recommender.
with
users as (select snapshot, user_id from {{ ref('int_snapshot_users') }}),
user_items as (select snapshot, user_id, item_id from {{ ref('int_user_item_sets') }}),
neighbours as (select snapshot, item_id, neighbour_item_id, similarity from {{ ref('int_item_knn') }}),

scored as (
    select
        user_items.snapshot,
        user_items.user_id,
        neighbours.neighbour_item_id as item_id,
        -- rounded: a parallel float sum differs in its last bits from run to run, so would ties' ranks
        round(sum(neighbours.similarity), 9) as score
    from user_items
    inner join users
        on user_items.snapshot = users.snapshot and user_items.user_id = users.user_id
    inner join neighbours
        on user_items.snapshot = neighbours.snapshot and user_items.item_id = neighbours.item_id
    group by user_items.snapshot, user_items.user_id, neighbours.neighbour_item_id
),

unseen as ({{ without_seen_items('scored') }}),

ranked as (
    select
        snapshot, user_id, item_id,
        'item_knn' as generator,
        score,
        row_number() over (partition by snapshot, user_id order by score desc, item_id) as generator_rank
    from unseen
),

candidates as (
    select * from ranked where generator_rank <= {{ sql_number(var('candidates_item_knn'), 'candidates_item_knn', integer=true) }}
)

select * from candidates
