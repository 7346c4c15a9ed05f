{#- Integer keys for text ids, for the wide joins, sorts and windows of a model: numbered in id
    order, so ordering by the key breaks ties as ordering by the id would. `ids` is a query
    giving each id (one or more columns) once; the model maps keys back to ids for its output. -#}
{% macro id_keys(ids, id_columns, key) -%}
    select
        {{ id_columns }},
        cast(row_number() over (order by {{ id_columns }}) as integer) as {{ key }}
    from ({{ ids }}) as ids
{%- endmacro %}
