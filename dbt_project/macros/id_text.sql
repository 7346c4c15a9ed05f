{#- Ids as trimmed text, whatever their raw type, so ints and strings join alike: integers
    cast directly, floats lose a trailing '.0' (an id column pandas wrote next to a null),
    text loses control characters, is trimmed, and '' becomes null. -#}
{% macro id_text(column, raw_type='') %}
  {%- if raw_type in ('BIGINT', 'INTEGER', 'SMALLINT', 'TINYINT', 'HUGEINT', 'UBIGINT', 'UINTEGER', 'USMALLINT', 'UTINYINT') -%}
    cast({{ column }} as {{ dbt.type_string() }})
  {%- elif raw_type in ('DOUBLE', 'FLOAT') or raw_type.startswith('DECIMAL') -%}
    case when {{ column }} = floor({{ column }}) then cast(cast({{ column }} as {{ wide_integer_type() }}) as {{ dbt.type_string() }})
         else cast({{ column }} as {{ dbt.type_string() }}) end
  {%- else -%}
    nullif({{ regexp_replace_all('trim(' ~ raw_text(column) ~ ')', '^(-?[0-9]+)\\.0+$', '\\1') }}, '')
  {%- endif -%}
{% endmacro %}
