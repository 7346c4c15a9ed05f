-- Items whose text is nearest to the user's taste: the hnswlib neighbours of the user's
-- profile vector (recsql_nearest_items) and of their recent items (int_item_neighbours),
-- scored by the best cosine similarity. Only items that exist at the cutoff survive the union.
-- The two sources (~90M pairs at 5M events) are merged and ranked on integer keys (macro
-- id_keys for users, the embeddings' item_row for items, which is numbered in item_id order);
-- text ids come back only for the kept rows.
-- The profile search reads int_user_profiles as stored and only its narrow output is joined:
-- a join carrying the 384-float profiles ran DuckDB out of memory at 5M events.
-- depends_on: {{ ref('int_item_neighbours') }}  (it builds the index the function searches)
{{ config(enabled=python_models_enabled()) }}  {#- calls Python functions: DuckDB only -#}
with
users as ({{ id_keys('select snapshot, user_id from ' ~ ref('int_snapshot_users'), 'snapshot, user_id', 'user_key') }}),
items as (select item_id, item_row as item_key from {{ ref('int_item_embeddings') }}),

recent as (
    select users.user_key, items.item_key
    from {{ ref('int_user_recent_items') }} as recent
    inner join users on recent.snapshot = users.snapshot and recent.user_id = users.user_id
    inner join items on recent.item_id = items.item_id
),

neighbours as (
    select items.item_key, neighbour_items.item_key as neighbour_key, neighbours.similarity
    from {{ ref('int_item_neighbours') }} as neighbours
    inner join items on neighbours.item_id = items.item_id
    inner join items as neighbour_items on neighbours.neighbour_item_id = neighbour_items.item_id
),

near_profile as (
    select users.user_key, items.item_key, searched.nearest.similarity as similarity
    from (
        select
            snapshot,
            user_id,
            unnest(recsql_nearest_items(profile, {{ sql_number(var('candidates_content'), 'candidates_content', integer=true) }}, 'items')) as nearest
        from {{ ref('int_user_profiles') }}
    ) as searched
    inner join users on searched.snapshot = users.snapshot and searched.user_id = users.user_id
    inner join items on searched.nearest.item_id = items.item_id
),

near_recent as (
    select recent.user_key, neighbours.neighbour_key as item_key, neighbours.similarity
    from recent
    inner join neighbours on recent.item_key = neighbours.item_key
),

scored as (
    select user_key, item_key, max(similarity) as score
    from (
        select * from near_profile
        union all
        select * from near_recent
    ) as both_sources
    group by user_key, item_key
),

ranked as ({{ top_unseen_keys('scored', 'users', 'items', sql_number(var('candidates_content'), 'candidates_content', integer=true)) }}),

candidates as (
    select
        users.snapshot,
        users.user_id,
        items.item_id,
        'content' as generator,
        cast(ranked.score as double) as score,
        ranked.generator_rank
    from ranked
    inner join users on ranked.user_key = users.user_key
    inner join items on ranked.item_key = items.item_key
)

select * from candidates
