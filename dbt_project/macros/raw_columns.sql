{#- The columns a raw relation really has, name -> DuckDB type, so staging can map what exists,
    cast by the real type (cheap) instead of parsing text, fill what is optional with null,
    and stop with a clear message when a required column is missing. -#}
{% macro raw_columns(relation) %}
  {%- if not execute -%}{{ return({}) }}{%- endif -%}
  {%- set described = run_query('describe select * from ' ~ relation) -%}
  {%- set columns = {} -%}
  {%- for row in described.rows -%}
    {%- do columns.update({row[0]: row[1] | upper}) -%}
  {%- endfor -%}
  {{ return(columns) }}
{% endmacro %}

{#- The user's column for `canonical`, quoted, or null when they map it to null or the file
    lacks it. A required column that is missing raises an error naming file and column. -#}
{% macro mapped_column(mapping, available, canonical, entity, relation, required=false, cast_to=none) %}
  {%- set source_col = mapping.get(canonical) -%}
  {%- if source_col and (not execute or source_col in available) -%}
    {%- set expr = adapter.quote(source_col) -%}
  {%- elif required -%}
    {{ exceptions.raise_compiler_error(
        "recsql: the " ~ entity ~ " file " ~ relation ~ " has no column '" ~ (source_col or canonical)
        ~ "' for " ~ canonical ~ ". Its columns are: " ~ (available.keys() | list | join(', '))
        ~ ". Map yours with --vars '{" ~ entity ~ "_columns: {" ~ canonical ~ ": <your column>}}'.") }}
  {%- else -%}
    {%- set expr = 'null' -%}
  {%- endif -%}
  {%- if cast_to and expr != 'null' -%}try_cast({{ expr }} as {{ cast_to }}){%- elif cast_to -%}cast(null as {{ cast_to }}){%- else -%}{{ expr }}{%- endif -%}
{% endmacro %}

{#- The raw DuckDB type of the user's column for `canonical` ('' when absent). -#}
{% macro mapped_type(mapping, available, canonical) %}
  {%- set source_col = mapping.get(canonical) -%}
  {{ return(available.get(source_col, '') if source_col else '') }}
{% endmacro %}
