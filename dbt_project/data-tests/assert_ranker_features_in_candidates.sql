-- Every feature the trainer will read is a column of fct_candidates.
-- depends_on: {{ ref('fct_candidates') }}
with
features as (select feature_name from {{ ref('ranker_features') }}),
columns as (
    select column_name from information_schema.columns where table_name = 'fct_candidates'
),

missing as (
    select features.feature_name
    from features
    left join columns on features.feature_name = columns.column_name
    where columns.column_name is null
)

select * from missing
