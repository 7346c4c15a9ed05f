{#- Fractional days from `start` to `finish` (timestamps): recency decays need more than
    dbt.datediff's whole-day boundaries. -#}
{% macro days_between(start, finish) %}
  {{ return(adapter.dispatch('days_between', 'recsql')(start, finish)) }}
{% endmacro %}

{% macro default__days_between(start, finish) -%}
    (epoch({{ finish }}) - epoch({{ start }})) / 86400.0
{%- endmacro %}

{% macro spark__days_between(start, finish) -%}
    (unix_micros({{ finish }}) / 1e6 - unix_micros({{ start }}) / 1e6) / 86400.0
{%- endmacro %}
