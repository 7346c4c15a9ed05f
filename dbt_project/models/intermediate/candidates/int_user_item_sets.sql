-- Each user's distinct items before each cutoff, most recent first, capped at
-- collaborative_history_items per user: the user x item matrix the collaborative generators
-- (item_knn, ease) learn from and score with. The cap keeps item pairs linear in the log.
with
history as (select * from {{ ref('int_user_item_history') }}),

capped as (
    select snapshot, user_id, item_id, times_bought, recency_rank
    from history
    where recency_rank <= {{ sql_number(var('collaborative_history_items'), 'collaborative_history_items', integer=true) }}
)

select * from capped
