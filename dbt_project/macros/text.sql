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
