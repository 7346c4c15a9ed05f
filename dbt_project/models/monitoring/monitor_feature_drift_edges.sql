-- The bins of monitor_feature_drift, fixed by the reference snapshot (var monitor_drift_reference)
-- only: each numeric ranker feature's 1st and 99th percentile over its non-null values, as
-- columns <feature>__low and <feature>__high. One row. A table of its own: every per-feature scan
-- of the drift model joins it, and Spark would otherwise plan the percentiles into each of them.
{%- set numeric = [] %}
{%- for name in ranker_features() if feature_kind(name) != 'categorical' %}{% do numeric.append(name) %}{% endfor %}
{%- if numeric %}
{{ percentile_row(
    numeric,
    {'low': 0.01, 'high': 0.99},
    ref('fct_candidates'),
    'snapshot = ' ~ sql_string(var('monitor_drift_reference'), 'monitor_drift_reference') ~ " and split <> 'serve'"
) }}
{%- else %}
select 0 as no_numeric_feature
{%- endif %}
