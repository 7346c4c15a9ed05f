-- Is there enough, and balanced enough, to learn from? Per labelled snapshot of fct_candidates
-- and check: the label rate, the share of users (queries) with no positive among their
-- candidates, the median and largest group (candidates per query) and the queries with a
-- positive (what the ranker learns from). One row per snapshot and check, with the value, the
-- var it is held to and a status: pass, or warn / fail as var monitor_balance_severity says.
{%- if var('monitor_balance_severity') not in ['warn', 'error'] %}
  {{ exceptions.raise_compiler_error("recsql: monitor_balance_severity must be warn or error, not " ~ var('monitor_balance_severity')) }}
{%- endif %}
{%- set failed = "'fail'" if var('monitor_balance_severity') == 'error' else "'warn'" %}
with
candidates as (
    select snapshot, split, user_id, label, sample_weight
    from {{ ref('fct_candidates') }} where split <> 'serve'
),

-- a query's whole candidate list: the sampled negatives of rolled-back train snapshots stand
-- for the rest (sample_weight), so sizes and rates read as before the sample
queries as (
    select snapshot, user_id, round(sum(sample_weight)) as candidates, sum(label) as positives
    from candidates
    group by snapshot, user_id
),

per_snapshot as (
    select
        snapshot,
        count(*) as queries,
        count(case when positives > 0 then 1 end) as queries_with_positive,
        sum(positives) * 1e0 / sum(candidates) as label_rate,  -- e0: a double on every engine
        count(case when positives = 0 then 1 end) * 1e0 / count(*) as no_positive_share,
        percentile_cont(0.5) within group (order by candidates) as median_group_size,
        max(candidates) as max_group_size
    from queries
    group by snapshot
),

snapshots as (
    select snapshot, split, cutoff_ts from {{ ref('int_snapshots') }} where split <> 'serve'
),

-- every labelled snapshot is checked, even one that has no candidate row at all
measured as (
    select
        snapshots.snapshot,
        snapshots.split,
        snapshots.cutoff_ts,
        coalesce(per_snapshot.queries, 0) as queries,
        coalesce(per_snapshot.queries_with_positive, 0) as queries_with_positive,
        coalesce(per_snapshot.label_rate, 0) as label_rate,
        coalesce(per_snapshot.no_positive_share, 1) as no_positive_share,
        coalesce(per_snapshot.median_group_size, 0) as median_group_size,
        coalesce(per_snapshot.max_group_size, 0) as max_group_size
    from snapshots
    left join per_snapshot on snapshots.snapshot = per_snapshot.snapshot
),

checks as (
    select snapshot, split, cutoff_ts, 'too_few_queries' as check_name,
        cast(queries_with_positive as double) as value,
        {{ sql_number(var('monitor_min_queries'), 'monitor_min_queries', minimum=0) }} as threshold,
        queries_with_positive < {{ sql_number(var('monitor_min_queries'), 'monitor_min_queries', minimum=0) }} as failed,
        'users with a positive among their candidates; at least monitor_min_queries' as rule
    from measured
    union all
    select snapshot, split, cutoff_ts, 'label_rate_low', label_rate,
        {{ sql_number(var('monitor_label_rate_min'), 'monitor_label_rate_min', minimum=0) }},
        label_rate < {{ sql_number(var('monitor_label_rate_min'), 'monitor_label_rate_min', minimum=0) }},
        'share of candidate rows that are positive; at least monitor_label_rate_min'
    from measured
    union all
    select snapshot, split, cutoff_ts, 'label_rate_high', label_rate,
        {{ sql_number(var('monitor_label_rate_max'), 'monitor_label_rate_max', minimum=0) }},
        label_rate > {{ sql_number(var('monitor_label_rate_max'), 'monitor_label_rate_max', minimum=0) }},
        'share of candidate rows that are positive; at most monitor_label_rate_max'
    from measured
    union all
    select snapshot, split, cutoff_ts, 'users_without_positive', no_positive_share,
        {{ sql_number(var('monitor_no_positive_share_max'), 'monitor_no_positive_share_max', minimum=0) }},
        no_positive_share > {{ sql_number(var('monitor_no_positive_share_max'), 'monitor_no_positive_share_max', minimum=0) }},
        'share of users whose candidates hold none of their next items; at most monitor_no_positive_share_max'
    from measured
    union all
    select snapshot, split, cutoff_ts, 'groups_too_small', median_group_size,
        {{ sql_number(var('monitor_group_size_min'), 'monitor_group_size_min', minimum=0) }},
        median_group_size < {{ sql_number(var('monitor_group_size_min'), 'monitor_group_size_min', minimum=0) }},
        'median candidates per user; at least monitor_group_size_min'
    from measured
    union all
    select snapshot, split, cutoff_ts, 'groups_too_large', max_group_size,
        {{ sql_number(var('monitor_group_size_max'), 'monitor_group_size_max', minimum=1) }},
        max_group_size > {{ sql_number(var('monitor_group_size_max'), 'monitor_group_size_max', minimum=1) }},
        'most candidates of one user; at most monitor_group_size_max'
    from measured
),

judged as (
    select
        snapshot,
        split,
        cutoff_ts,
        check_name,
        value,
        cast(threshold as double) as threshold,
        case when failed then {{ failed }} else 'pass' end as status,
        rule
    from checks
)

select * from judged
