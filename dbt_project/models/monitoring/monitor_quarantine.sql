-- The quarantine over time: per week of event time and reason, the raw rows set aside and
-- their share of the week's raw rows, beside the mean share of the weeks before. A share that
-- jumps (monitor_quarantine_jump_factor times the trailing mean and monitor_quarantine_jump_min
-- above it, in a week of at least monitor_quarantine_min_rows raw rows) warns: a feed that
-- changed its format, a new service line, a broken clock. Rows without a readable time are
-- left out (their reasons are in int_interactions_rejected). One row per week and reason.
{%- set weeks = sql_number(var('monitor_quarantine_weeks'), 'monitor_quarantine_weeks', integer=true, minimum=1) %}
with
triaged as (
    select {{ dbt.date_trunc('week', 'event_ts') }} as week, reason
    from {{ ref('int_interactions_triaged') }}
    where event_ts is not null
),

weekly_rows as (select week, count(*) as raw_rows from triaged group by week),
reasons as (select distinct reason from triaged where reason is not null),

rejected as (
    select week, reason, count(*) as rejected_rows
    from triaged
    where reason is not null
    group by week, reason
),

-- every week for every reason, so a week without rejections counts as a share of 0
rates as (
    select
        weekly_rows.week,
        reasons.reason,
        weekly_rows.raw_rows,
        coalesce(rejected.rejected_rows, 0) as rejected_rows,
        coalesce(rejected.rejected_rows, 0) * 1e0 / weekly_rows.raw_rows as rate
    from weekly_rows
    cross join reasons
    left join rejected on weekly_rows.week = rejected.week and reasons.reason = rejected.reason
),

compared as (
    select
        rates.*,
        avg(case when raw_rows >= {{ sql_number(var('monitor_quarantine_min_rows'), 'monitor_quarantine_min_rows', minimum=0) }} then rate end) over (
            partition by reason order by week rows between {{ weeks }} preceding and 1 preceding
        ) as trailing_rate
    from rates
),

judged as (
    select
        compared.*,
        case
            when raw_rows >= {{ sql_number(var('monitor_quarantine_min_rows'), 'monitor_quarantine_min_rows', minimum=0) }}
                and trailing_rate is not null
                and rate > trailing_rate * {{ sql_number(var('monitor_quarantine_jump_factor'), 'monitor_quarantine_jump_factor', minimum=1) }}
                and rate - trailing_rate > {{ sql_number(var('monitor_quarantine_jump_min'), 'monitor_quarantine_jump_min', minimum=0) }}
                then 'warn'
            else 'pass'
        end as status
    from compared
)

select * from judged
