-- The rows EASE learns from, as integer coordinates: per snapshot, the ease_max_items items
-- with the most users before the cutoff (item_row 0..n-1) and every user with history
-- (user_row), flagged when the snapshot ranks them. int_candidates_ease solves on these.
with
user_items as (select snapshot, user_id, item_id from {{ ref('int_user_item_sets') }}),
ranked_users as (select snapshot, user_id from {{ ref('int_snapshot_users') }}),

item_users as (
    select
        snapshot,
        item_id,
        row_number() over (partition by snapshot order by count(*) desc, item_id) - 1 as item_row
    from user_items
    group by snapshot, item_id
),

kept_items as (
    select * from item_users where item_row < {{ sql_number(var('ease_max_items'), 'ease_max_items', integer=true) }}
),

user_rows as (
    select
        user_items.snapshot,
        user_items.user_id,
        dense_rank() over (partition by user_items.snapshot order by user_items.user_id) - 1 as user_row
    from user_items
    group by user_items.snapshot, user_items.user_id
),

coordinates as (
    select
        user_items.snapshot,
        user_rows.user_row,
        kept_items.item_row,
        user_items.user_id,
        user_items.item_id,
        ranked_users.user_id is not null as is_ranked_user
    from user_items
    inner join kept_items
        on user_items.snapshot = kept_items.snapshot and user_items.item_id = kept_items.item_id
    inner join user_rows
        on user_items.snapshot = user_rows.snapshot and user_items.user_id = user_rows.user_id
    left join ranked_users
        on user_items.snapshot = ranked_users.snapshot and user_items.user_id = ranked_users.user_id
)

select * from coordinates
