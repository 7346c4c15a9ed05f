-- Kept + rejected = every raw row, each exactly once: nothing is lost silently.
with
raw as (select raw_row_id from {{ ref('stg_interactions') }}),
kept as (select raw_row_id from {{ ref('int_interactions_clean') }}),
rejected as (select raw_row_id from {{ ref('int_interactions_rejected') }}),
accounted as (select raw_row_id from kept union all select raw_row_id from rejected),

mismatches as (
    select raw.raw_row_id, count(accounted.raw_row_id) as times_accounted
    from raw
    left join accounted on raw.raw_row_id = accounted.raw_row_id
    group by raw.raw_row_id
    having count(accounted.raw_row_id) <> 1
)

select * from mismatches
