-- Items whose text is nearest to the user's taste: the hnswlib neighbours of the user's
-- profile vector (recsql_nearest_items) and of their recent items (int_item_neighbours),
-- scored by the best cosine similarity. Only items that exist at the cutoff survive the union.
-- depends_on: {{ ref('int_item_neighbours') }}  (it builds the index the function searches)
{{ config(enabled=python_models_enabled()) }}  {#- calls Python functions: DuckDB only -#}
with
profiles as (select * from {{ ref('int_user_profiles') }}),
recent as (select * from {{ ref('int_user_recent_items') }}),
neighbours as (select * from {{ ref('int_item_neighbours') }}),

near_profile as (
    select snapshot, user_id, nearest.item_id, nearest.similarity
    from (
        select
            snapshot,
            user_id,
            unnest(recsql_nearest_items(profile, {{ sql_number(var('candidates_content'), 'candidates_content', integer=true) }}, 'items')) as nearest
        from profiles
    ) as searched
),

near_recent as (
    select recent.snapshot, recent.user_id, neighbours.neighbour_item_id as item_id, neighbours.similarity
    from recent
    inner join neighbours on recent.item_id = neighbours.item_id
),

scored as (
    select snapshot, user_id, item_id, max(similarity) as score
    from (
        select * from near_profile
        union all
        select * from near_recent
    ) as both_sources
    group by snapshot, user_id, item_id
),

unseen as ({{ without_seen_items('scored') }}),

ranked as (
    select
        snapshot, user_id, item_id,
        'content' as generator,
        cast(score as double) as score,
        row_number() over (partition by snapshot, user_id order by score desc, item_id) as generator_rank
    from unseen
),

candidates as (
    select * from ranked where generator_rank <= {{ sql_number(var('candidates_content'), 'candidates_content', integer=true) }}
)

select * from candidates
