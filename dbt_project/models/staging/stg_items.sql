-- The catalog renamed and cast to the input contract, control characters stripped. With
-- items_path: false (no catalog), items are the distinct ids of the log with no attributes
-- of their own: int_items_clean fills them from the log's text (int_items_from_log). Columns
-- named by vars item_attributes / item_numeric_attributes come along as item_attr_<name>
-- (text) / item_num_<name> (double).
{%- set has_catalog = var('items_path') is not false %}
{{- require_attribute_file('item_attributes', 'items_path', 'items') }}
{{- require_attribute_file('item_numeric_attributes', 'items_path', 'items') }}

{%- if has_catalog %}
{%- set relation = raw_relation(source('raw', 'items')) -%}
{%- set cols = column_map('items') -%}
{%- set available = raw_columns(relation, 'items') %}

with
source as (select * from {{ relation }}),

renamed as (
    select
        {{ file_row_number() }} as raw_row_id,
        {{ id_text(mapped_column(cols, available, 'item_id', 'items', relation, required=true), mapped_type(cols, available, 'item_id')) }} as item_id,
        {{ raw_text(mapped_column(cols, available, 'title', 'items', relation)) }} as title,
        {{ raw_text(mapped_column(cols, available, 'description', 'items', relation)) }} as description,
        {{ raw_text(mapped_column(cols, available, 'category', 'items', relation)) }} as category,
        {{ raw_text(mapped_column(cols, available, 'brand', 'items', relation)) }} as brand,
        {{ mapped_column(cols, available, 'price', 'items', relation, cast_to='double') }} as price,
        {{- attribute_columns('item_attributes', available, relation, 'items') }}
        {{- attribute_columns('item_numeric_attributes', available, relation, 'items') }}
        {{ parse_timestamp(mapped_column(cols, available, 'created_at', 'items', relation), 'auto', mapped_type(cols, available, 'created_at')) }} as created_at,
        {{ raw_flag(mapped_column(cols, available, 'available', 'items', relation), mapped_type(cols, available, 'available')) }} as available
    from source
)

select * from renamed

{%- else %}

with
interactions as (select item_id from {{ ref('stg_interactions') }} where item_id is not null),

from_log as (
    select
        row_number() over (order by item_id) as raw_row_id,
        item_id,
        cast(null as {{ dbt.type_string() }}) as title,
        cast(null as {{ dbt.type_string() }}) as description,
        cast(null as {{ dbt.type_string() }}) as category,
        cast(null as {{ dbt.type_string() }}) as brand,
        cast(null as double) as price,
        cast(null as timestamp) as created_at,
        cast(null as boolean) as available
    from interactions
    group by item_id
)

select * from from_log
{%- endif %}
