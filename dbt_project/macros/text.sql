{#- Display text: Unicode NFKC (full-width letters become ASCII), whitespace of every kind
    collapsed, trimmed; case kept. Empty becomes null. Python function: DuckDB only. -#}
{% macro clean_text(expr) %}
  {{ return(adapter.dispatch('clean_text', 'recsql')(expr)) }}
{% endmacro %}

{% macro default__clean_text(expr) %}
    nullif(trim(regexp_replace({{ expr }}, '\s+', ' ', 'g')), '')
{% endmacro %}

{% macro duckdb__clean_text(expr) %}
    nullif(recsql_clean_text({{ expr }}), '')
{% endmacro %}

{#- Raw text as it should enter the warehouse: line breaks and tabs become spaces, every other
    control character (NUL, escape, C1) is dropped, so they never reach titles, reasons or
    exports. Applied at staging to every text and id column. -#}
{% macro strip_control(expr) -%}
    {{ regexp_replace_all(regexp_replace_all(expr, '[\\t\\n\\r\\x0b\\x0c]', ' '), '[\\x00-\\x08\\x0e-\\x1f\\x7f-\\x9f]', '') }}
{%- endmacro %}

{#- A raw column as text with control characters stripped (null stays null). -#}
{% macro raw_text(expr) -%}
    {{ strip_control('cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')') }}
{%- endmacro %}
