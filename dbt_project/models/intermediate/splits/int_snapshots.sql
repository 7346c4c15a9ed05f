-- One row per snapshot: its cutoff (features see only events strictly before it) and the end
-- of its label window [cutoff_ts, label_end_ts). train (train_2, ... rolling back), test, serve.
-- Cutoffs come from vars or default to the 0.8 / 0.9 quantiles of event time, at midnight; the
-- label window of every train snapshot is test_cutoff - train_cutoff long. A rolled-back train
-- snapshot is kept only if at least one window of history lies before its cutoff.
{%- set window = '(test_cutoff_ts - train_cutoff_ts)' %}
with
events as (select event_ts from {{ ref('int_interactions_clean') }}),

bounds as (
    select
        min(event_ts) as start_ts,
        max(event_ts) as end_ts,
        {% if var('train_cutoff') -%}
        {{ sql_timestamp(var('train_cutoff'), 'train_cutoff') }}
        {%- else -%}
        date_trunc('day', {{ timestamp_quantile('event_ts', 0.8) }})
        {%- endif %} as train_cutoff_ts,
        {% if var('test_cutoff') -%}
        {{ sql_timestamp(var('test_cutoff'), 'test_cutoff') }}
        {%- else -%}
        date_trunc('day', {{ timestamp_quantile('event_ts', 0.9) }})
        {%- endif %} as test_cutoff_ts
    from events
),

snapshots as (
    {% for k in range(sql_number(var('train_snapshots'), 'train_snapshots', integer=true, minimum=1) | int) -%}
    select
        '{{ "train" if k == 0 else "train_" ~ (k + 1) }}' as snapshot,
        'train' as split,
        train_cutoff_ts - {{ k }} * {{ window }} as cutoff_ts,
        train_cutoff_ts - {{ k - 1 }} * {{ window }} as label_end_ts
    from bounds
    {%- if k > 0 %}
    where train_cutoff_ts - {{ k }} * {{ window }} >= start_ts + {{ window }}
    {%- endif %}
    union all
    {% endfor -%}
    select 'test', 'test', test_cutoff_ts, {{ dbt.dateadd('second', 1, 'end_ts') }}
    from bounds
    union all
    select 'serve', 'serve', {{ dbt.dateadd('second', 1, 'end_ts') }}, cast(null as timestamp)
    from bounds
)

select * from snapshots
