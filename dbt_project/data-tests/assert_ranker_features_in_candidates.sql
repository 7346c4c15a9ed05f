-- Every feature the trainer will read is a column of fct_candidates.
-- depends_on: {{ ref('fct_candidates') }}
-- (the columns come from the adapter, not information_schema: Spark's catalog has none)
{%- set names = [] %}
{%- if execute %}
{%- for column in adapter.get_columns_in_relation(ref('fct_candidates')) %}{% do names.append(column.name) %}{% endfor %}
{%- endif %}
with
features as (select feature_name from {{ ref('ranker_features') }}),
columns as (
    {%- for name in names %}
    select {{ sql_string(name) }} as column_name
    union all
    {%- endfor %}
    select cast(null as {{ dbt.type_string() }}) as column_name
),

missing as (
    select features.feature_name
    from features
    left join columns on features.feature_name = columns.column_name
    where columns.column_name is null
)

select * from missing
