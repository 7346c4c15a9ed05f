{#- Ids as trimmed text, whatever their raw type: ints and strings join alike, '12.0'
    (a float id written by pandas next to a null) becomes '12', and '' becomes null. -#}
{% macro id_text(column) %}
    nullif(regexp_replace(trim(cast({{ column }} as varchar)), '^(-?[0-9]+)\.0+$', '\1'), '')
{% endmacro %}
