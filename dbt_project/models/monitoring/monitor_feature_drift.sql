-- How far each ranker feature moved between a labelled snapshot of fct_candidates (var
-- monitor_drift_reference; default test, the latest window the served model learned from) and
-- the serve snapshot it scores: the population stability index over fixed bins and the share of
-- nulls on each side. Bins: monitor_drift_bins equal widths between the reference's 1st and 99th
-- percentiles (outliers fall in the end bins), one more for nulls; a categorical feature's
-- values are its bins. Equal widths, not quantiles: a cutoff taken at another time of day
-- moves every "days since" value a little, which quantile bins on tied values magnify.
-- One row per feature. The features are counted into their bins with the edges of
-- monitor_feature_drift_edges, a grouping set per feature (its bin and, for a categorical one,
-- its value), several features per scan of fct_candidates (macro drift_features_per_scan). No
-- long (row x feature) table is built: it made this the slowest model of a large build.
{%- set features = ranker_features() %}
{%- set bins = sql_number(var('monitor_drift_bins'), 'monitor_drift_bins', integer=true, minimum=2) | int %}
{%- set per_scan = drift_features_per_scan() | int %}
with
features as (select feature_name, family, kind, position from {{ ref('ranker_features') }}),

edges as (select * from {{ ref('monitor_feature_drift_edges') }}),

-- per feature and bin, the rows on each side. b<i>: the i-th feature's bin (-1 holds the
-- nulls; a categorical feature's values are its bins, c<i>); g<i> = 0 on its grouping set's rows
{% for scanned in features | batch(per_scan) -%}
grouped_{{ loop.index }} as (
    select
        {% for name in scanned -%}
        {%- set i = features.index(name) + 1 -%}
        b{{ i }}, c{{ i }}, {{ 'grouping(b' ~ i ~ ')' if per_scan > 1 else '0' }} as g{{ i }},
        {% endfor -%}
        count(case when not is_serve then 1 end) as reference_rows,
        count(case when is_serve then 1 end) as serve_rows
    from (
        select
            candidates.split = 'serve' as is_serve,
            {% for name in scanned -%}
            {%- set i = features.index(name) + 1 -%}
            {% if feature_kind(name) == 'categorical' -%}
            case when candidates.{{ name }} is null then -1 end as b{{ i }},
            cast(candidates.{{ name }} as {{ dbt.type_string() }}) as c{{ i }}
            {%- else -%}
            {%- set value = 'cast(candidates.' ~ name ~ ' as double)' %}
            {%- set low = 'edges.' ~ name ~ '__low' %}
            {%- set high = 'edges.' ~ name ~ '__high' %}
            case
                when {{ value }} is null then -1
                when {{ high }} is null or {{ high }} <= {{ low }} or {{ value }} <= {{ low }} then 0
                when {{ value }} >= {{ high }} then {{ bins - 1 }}
                else cast(floor(({{ value }} - {{ low }}) / ({{ high }} - {{ low }}) * {{ bins }}) as bigint)
            end as b{{ i }},
            cast(null as {{ dbt.type_string() }}) as c{{ i }}
            {%- endif %}{{ ',' if not loop.last }}
            {% endfor %}
        from {{ ref('fct_candidates') }} as candidates
        cross join edges
        where candidates.split = 'serve'
            or candidates.snapshot = {{ sql_string(var('monitor_drift_reference'), 'monitor_drift_reference') }}
    ) as binned
    {% if per_scan > 1 -%}
    group by grouping sets (
        {%- for name in scanned %}
        {%- set i = features.index(name) + 1 %}
        (b{{ i }}, c{{ i }}){{ ',' if not loop.last }}
        {%- endfor %}
    )
    {%- else -%}
    {%- set i = features.index(scanned[0]) + 1 -%}
    group by b{{ i }}, c{{ i }}
    {%- endif %}
),

{% endfor -%}
counted_bins as (
    {% for name in features -%}
    select
        '{{ name }}' as feature_name,
        b{{ loop.index }} as bin_index,
        c{{ loop.index }} as category,
        reference_rows,
        serve_rows
    from grouped_{{ (loop.index0 // per_scan) + 1 }}
    where g{{ loop.index }} = 0
    {{ 'union all' if not loop.last }}
    {% endfor %}
),

counted as (
    select
        feature_name,
        case
            when category is not null then 'value ' || category
            when bin_index = -1 then 'null'
            else 'bin ' || cast(bin_index as {{ dbt.type_string() }})
        end as bin,
        reference_rows,
        serve_rows
    from counted_bins
),

totals as (
    select
        feature_name,
        sum(reference_rows) as reference_rows,
        sum(serve_rows) as serve_rows,
        sum(case when bin = 'null' then reference_rows else 0 end) as reference_nulls,
        sum(case when bin = 'null' then serve_rows else 0 end) as serve_nulls,
        count(*) as bins
    from counted
    group by feature_name
),

-- a bin empty on one side counts as 0.01 % of it, so the index stays finite
shares as (
    select
        counted.feature_name,
        greatest(counted.reference_rows * 1e0 / nullif(totals.reference_rows, 0), 0.0001) as reference_share,
        greatest(counted.serve_rows * 1e0 / nullif(totals.serve_rows, 0), 0.0001) as serve_share
    from counted
    inner join totals on counted.feature_name = totals.feature_name
),

psi as (
    select feature_name, sum((serve_share - reference_share) * ln(serve_share / reference_share)) as psi
    from shares
    group by feature_name
),

measured as (
    select
        features.feature_name,
        features.family,
        features.kind,
        features.position,
        {{ sql_string(var('monitor_drift_reference'), 'monitor_drift_reference') }} as reference_snapshot,
        totals.reference_rows,
        totals.serve_rows,
        totals.bins,
        psi.psi,
        totals.reference_nulls * 1e0 / nullif(totals.reference_rows, 0) as reference_null_share,
        totals.serve_nulls * 1e0 / nullif(totals.serve_rows, 0) as serve_null_share
    from features
    left join totals on features.feature_name = totals.feature_name
    left join psi on features.feature_name = psi.feature_name
),

judged as (
    select
        measured.*,
        case
            when psi > {{ sql_number(var('monitor_psi_warn'), 'monitor_psi_warn', minimum=0) }} then 'warn'
            when abs(serve_null_share - reference_null_share)
                > {{ sql_number(var('monitor_null_share_warn'), 'monitor_null_share_warn', minimum=0) }} then 'warn'
            else 'pass'
        end as status
    from measured
)

select * from judged
