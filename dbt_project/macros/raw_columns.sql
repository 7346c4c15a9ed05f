{#- The columns a raw relation really has, so staging can map what exists, fill what is
    optional with null, and stop with a clear message when a required column is missing. -#}
{% macro raw_columns(relation) %}
  {%- if not execute -%}{{ return([]) }}{%- endif -%}
  {%- set result = run_query('select * from ' ~ relation ~ ' limit 0') -%}
  {{ return(result.column_names | list) }}
{% endmacro %}

{#- `source_col` as `canonical`, or null when the user maps it to null or the file lacks it.
    Required columns (required=true) that are missing raise an error naming file and column. -#}
{% macro mapped_column(mapping, available, canonical, entity, relation, required=false, cast_to=none) %}
  {%- set source_col = mapping.get(canonical) -%}
  {%- if source_col and (not execute or source_col in available) -%}
    {%- set expr = adapter.quote(source_col) -%}
  {%- elif required -%}
    {{ exceptions.raise_compiler_error(
        "recsql: the " ~ entity ~ " file " ~ relation ~ " has no column '" ~ (source_col or canonical)
        ~ "' for " ~ canonical ~ ". Its columns are: " ~ (available | join(', '))
        ~ ". Map yours with --vars '{" ~ entity ~ "_columns: {" ~ canonical ~ ": <your column>}}'.") }}
  {%- else -%}
    {%- set expr = 'null' -%}
  {%- endif -%}
  {%- if cast_to -%}try_cast({{ expr }} as {{ cast_to }}){%- else -%}{{ expr }}{%- endif -%}
{% endmacro %}
