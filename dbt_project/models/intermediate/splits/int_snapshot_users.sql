-- The users each snapshot ranks for: in train and test, every user with a label in the window
-- (those are the queries to learn from and to evaluate on, history or not); in serve, every
-- user known before the cutoff or listed in the users file.
with
snapshots as (select * from {{ ref('int_snapshots') }}),
labels as (select distinct snapshot, user_id from {{ ref('int_labels') }}),
history as (select distinct snapshot, user_id from {{ ref('int_events_before_cutoff') }}),
users as (select user_id from {{ ref('stg_users') }} where user_id is not null),

serve_users as (
    select snapshots.snapshot, history.user_id
    from snapshots
    inner join history on snapshots.snapshot = history.snapshot
    where snapshots.split = 'serve'
    union
    select snapshots.snapshot, users.user_id
    from snapshots
    cross join users
    where snapshots.split = 'serve'
),

snapshot_users as (
    select labels.snapshot, labels.user_id
    from labels
    union all
    select snapshot, user_id from serve_users
),

flagged as (
    select
        snapshot_users.snapshot,
        snapshots.split,
        snapshots.cutoff_ts,
        snapshot_users.user_id,
        history.user_id is not null as has_history
    from snapshot_users
    inner join snapshots on snapshot_users.snapshot = snapshots.snapshot
    left join history
        on snapshot_users.snapshot = history.snapshot
        and snapshot_users.user_id = history.user_id
)

select * from flagged
