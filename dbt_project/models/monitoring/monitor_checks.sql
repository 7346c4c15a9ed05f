-- Every monitoring check in one table, for people and programs: `recsql train` prints the ones
-- that did not pass and `recsql report` shows them all, green or red. One row per check and
-- subject (a feature, a snapshot, a quarantine reason); status pass, warn or fail.
with
drift as (select * from {{ ref('monitor_feature_drift') }}),
balance as (select * from {{ ref('monitor_label_balance') }}),
quarantine as (select * from {{ ref('monitor_quarantine') }}),

-- a reason's worst week: the latest one that jumped, else its highest share
quarantine_ranked as (
    select
        quarantine.*,
        row_number() over (
            partition by reason
            order by case when status = 'pass' then 1 else 0 end,
                case when status = 'pass' then rate end desc,
                week desc
        ) as worst
    from quarantine
    where raw_rows >= {{ sql_number(var('monitor_quarantine_min_rows'), 'monitor_quarantine_min_rows', minimum=0) }}
),

checks as (
    select
        'drift' as check_group,
        'feature_drift' as check_name,
        feature_name as subject,
        cast(null as {{ dbt.type_timestamp() }}) as at_ts,
        psi as value,
        {{ sql_number(var('monitor_psi_warn'), 'monitor_psi_warn', minimum=0) }} * 1.0 as threshold,
        status,
        'PSI reference -> serve (monitor_psi_warn); nulls '
            || cast(round(100 * reference_null_share, 1) as {{ dbt.type_string() }}) || ' % -> '
            || cast(round(100 * serve_null_share, 1) as {{ dbt.type_string() }}) || ' % (monitor_null_share_warn)' as rule
    from drift
    union all
    select 'balance', check_name, snapshot, cutoff_ts, value, threshold, status, rule
    from balance
    union all
    select
        'quarantine',
        'quarantine_jump',
        reason,
        week,
        rate,
        trailing_rate,
        status,
        'weekly share of raw rows quarantined vs the trailing mean (threshold column)'
    from quarantine_ranked
    where worst = 1
)

select * from checks
