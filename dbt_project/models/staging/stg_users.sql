-- Users renamed and cast to the input contract, control characters stripped. With users_path: false (no users file),
-- users are the distinct ids of the log, with no attributes. Columns named by var
-- user_attributes come along as user_attr_<name> (text).
{%- set has_users = var('users_path') is not false %}
{{- require_attribute_file('user_attributes', 'users_path', 'users') }}

{%- if has_users %}
{%- set relation = raw_relation(source('raw', 'users')) -%}
{%- set cols = column_map('users') -%}
{%- set available = raw_columns(relation, 'users') %}

with
source as (select * from {{ relation }}),

renamed as (
    select
        {{ id_text(mapped_column(cols, available, 'user_id', 'users', relation, required=true), mapped_type(cols, available, 'user_id')) }} as user_id,
        {{ parse_timestamp(mapped_column(cols, available, 'signup_date', 'users', relation), 'auto', mapped_type(cols, available, 'signup_date')) }} as signup_ts,
        {{- attribute_columns('user_attributes', available, relation, 'users') }}
        {{ raw_text(mapped_column(cols, available, 'segment', 'users', relation)) }} as segment
    from source
)

select * from renamed

{%- else %}

with
interactions as (select user_id from {{ ref('stg_interactions') }} where user_id is not null),

from_log as (
    select
        user_id,
        cast(null as timestamp) as signup_ts,
        cast(null as {{ dbt.type_string() }}) as segment
    from interactions
    group by user_id
)

select * from from_log
{%- endif %}
