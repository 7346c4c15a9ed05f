-- What each user did in each snapshot's label window [cutoff_ts, label_end_ts): one row per
-- snapshot, user and item, graded by the strongest event type (var event_weights). Labels may
-- look ahead (that is their job): an event later cancelled by a return is not a label.
-- Engagement with served lists (feedback: click, add_to_cart, purchase) labels the windows
-- it falls in, graded the same way; an impression alone is not a label.
with
events as (select * from {{ ref('int_interactions_clean') }}),
feedback as (
    select user_id, item_id, event_type, event_ts from {{ ref('int_feedback_events') }}
    where event_type <> 'impression'
),
snapshots as (select * from {{ ref('int_snapshots') }} where label_end_ts is not null),

in_window as (
    select
        snapshots.snapshot,
        events.user_id,
        events.item_id,
        {{ event_grade('events.event_type') }} as grade
    from snapshots
    inner join events
        on events.event_ts >= snapshots.cutoff_ts
        and events.event_ts < snapshots.label_end_ts
    where events.cancelled_ts is null
    {%- if var('label_min_rating') is not none %}
        and (events.rating is null or events.rating >= {{ sql_number(var('label_min_rating'), 'label_min_rating') }})
    {%- endif %}
    union all
    select snapshots.snapshot, feedback.user_id, feedback.item_id, {{ event_grade('feedback.event_type') }} as grade
    from snapshots
    inner join feedback
        on feedback.event_ts >= snapshots.cutoff_ts
        and feedback.event_ts < snapshots.label_end_ts
),

labels as (
    select
        snapshot,
        user_id,
        item_id,
        cast(max(grade) as integer) as label_grade,
        count(*) as label_events
    from in_window
    group by snapshot, user_id, item_id
)

select * from labels
