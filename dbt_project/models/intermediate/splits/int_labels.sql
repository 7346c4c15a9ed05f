-- What each user did in each snapshot's label window [cutoff_ts, label_end_ts): one row per
-- snapshot, user and item, graded by the strongest event type (var event_weights). Labels may
-- look ahead (that is their job): an event later cancelled by a return is not a label.
{%- set weights = var('event_weights') %}
with
events as (select * from {{ ref('int_interactions_clean') }}),
snapshots as (select * from {{ ref('int_snapshots') }} where label_end_ts is not null),

in_window as (
    select
        snapshots.snapshot,
        events.user_id,
        events.item_id,
        case events.event_type
            {%- for event_type, weight in weights.items() %}
            when {{ sql_string(event_type, 'event_weights') }} then {{ sql_number(weight, 'event_weights') }}
            {%- endfor %}
            else 1
        end as grade
    from snapshots
    inner join events
        on events.event_ts >= snapshots.cutoff_ts
        and events.event_ts < snapshots.label_end_ts
    where events.cancelled_ts is null
    {%- if var('label_min_rating') is not none %}
        and (events.rating is null or events.rating >= {{ sql_number(var('label_min_rating'), 'label_min_rating') }})
    {%- endif %}
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
