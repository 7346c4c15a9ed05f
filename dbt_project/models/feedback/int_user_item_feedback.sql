-- What each user was shown of each item before the cutoff, and what they did with it: lists
-- that showed it, lists where it was shown and skipped (no click, cart or purchase of it from
-- that list before the cutoff), and the best position it had. The shown position is a feature
-- so the next model can tell "ranked first and skipped" from "never shown", instead of just
-- learning the old ranking. One row per snapshot, user and item shown before the cutoff.
with
feedback as (select * from {{ ref('int_feedback_events') }}),
snapshots as (select snapshot, cutoff_ts from {{ ref('int_snapshots') }}),

per_list_item as (
    select
        snapshots.snapshot,
        feedback.request_id,
        feedback.user_id,
        feedback.item_id,
        min(feedback.position) as position,
        bool_or(feedback.event_type = 'impression') as shown,
        bool_or(feedback.event_type in ('click', 'add_to_cart', 'purchase')) as engaged
    from snapshots
    inner join feedback on {{ before_cutoff('feedback.event_ts', 'snapshots.cutoff_ts') }}
    group by snapshots.snapshot, feedback.request_id, feedback.user_id, feedback.item_id
)

select
    snapshot,
    user_id,
    item_id,
    count(*) filter (where shown) as times_shown,
    count(*) filter (where shown and not engaged) as times_skipped,
    min(position) filter (where shown) as best_position
from per_list_item
group by snapshot, user_id, item_id
having count(*) filter (where shown) > 0
