-- Recent best sellers within each of the user's favourite categories before the cutoff,
-- scored by the user's share of that category times the item's recent popularity. When the
-- build leaves out items users already had, each category gives the user its best sellers
-- among those they never had (macro best_seller_depth).
{%- set top = sql_number(var('candidates_popular_category'), 'candidates_popular_category', integer=true) %}
with
users as (select snapshot, user_id from {{ ref('int_snapshot_users') }}),
affinity as (
    select * from {{ ref('int_user_category_affinity') }}
    where category_rank <= {{ sql_number(var('favourite_categories'), 'favourite_categories', integer=true) }}
),
popularity as (select * from {{ ref('int_item_popularity') }}),
items as (select item_id, category from {{ ref('int_item_categories') }}),

ranked_in_category as (
    select
        popularity.snapshot,
        items.category,
        popularity.item_id,
        popularity.events_7d + popularity.events_30d / 30e0 as recent_score,  -- e0: a double on every engine
        row_number() over (
            partition by popularity.snapshot, items.category
            order by popularity.events_7d desc, popularity.events_30d desc, popularity.item_id
        ) as category_rank
    from popularity
    inner join items on popularity.item_id = items.item_id
),

pool as (
    select
        users.snapshot,
        users.user_id,
        affinity.category,
        affinity.share,
        ranked_in_category.item_id,
        ranked_in_category.recent_score,
        ranked_in_category.category_rank
    from users
    inner join affinity
        on users.snapshot = affinity.snapshot and users.user_id = affinity.user_id
    inner join ranked_in_category
        on affinity.snapshot = ranked_in_category.snapshot
        and affinity.category = ranked_in_category.category
    where ranked_in_category.category_rank <= {{ best_seller_depth(top) }}
),

unseen as ({{ without_seen_items('pool') }}),

kept as (
    select * from (
        select
            *,
            row_number() over (
                partition by snapshot, user_id, category order by category_rank
            ) as rank_for_user
        from unseen
    ) as numbered
    where rank_for_user <= {{ top }}
),

scored as (
    select snapshot, user_id, item_id, max(share * ln(1 + recent_score)) as score
    from kept
    group by snapshot, user_id, item_id  -- an item in two liked categories
),

candidates as (
    select
        snapshot, user_id, item_id,
        'popular_category' as generator,
        score,
        row_number() over (partition by snapshot, user_id order by score desc, item_id) as generator_rank
    from scored
)

select * from candidates
