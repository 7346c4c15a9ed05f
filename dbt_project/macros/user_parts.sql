{#- A large table built in parts of whole users: one statement per part, each joining only
    its users' rows. fct_candidates over 71.7M candidates (5M events) in one statement spilled
    past 50 GB of temp files at memory_limit 4GB; every join there is on the user (or on a row
    of one user), so a part needs only its users' rows of every user-keyed input.

    The model filters each user-keyed input with in_user_part(column, parts); the
    user_parts_table materialization (DuckDB) runs the model once per part with the filter
    hash(user) % parts = part, into one table, swapped in as the table materialization does.
    With one part (small tables, or var build_part_rows null) the filter renders `true` and the
    model is a plain table. -#}

{#- How many parts a model with one row per row of `relation` takes: about var build_part_rows
    rows each. 1 off DuckDB, while parsing, with the var null, or before `relation` is built
    (`dbt compile` on a new warehouse). -#}
{% macro user_parts(relation) %}
  {%- if not execute or var('build_part_rows', none) is none or target.type != 'duckdb' -%}
    {{ return(1) }}
  {%- endif -%}
  {%- set rows_per_part = sql_number(var('build_part_rows'), 'build_part_rows', integer=true, minimum=1) | int -%}
  {%- if adapter.get_relation(relation.database, relation.schema, relation.identifier) is none -%}
    {{ return(1) }}
  {%- endif -%}
  {%- set rows = run_query('select count(*) from ' ~ relation).columns[0].values()[0] -%}
  {{ return([1, ((rows + rows_per_part - 1) // rows_per_part) | int] | max) }}
{% endmacro %}

{#- The filter for a user-keyed input: a marker the materialization fills in per part. -#}
{% macro in_user_part(column, parts) -%}
  {%- if parts <= 1 -%}
    true
  {%- else -%}
    (true /* recsql user part: {{ column }} of {{ parts }} */)
  {%- endif -%}
{%- endmacro %}

{% materialization user_parts_table, adapter='duckdb' %}
  {%- set marker = '[(]true /[*] recsql user part: ([^*]+?) of ([0-9]+) [*]/[)]' -%}
  {%- set found = modules.re.findall(marker, compiled_code) -%}
  {%- set parts = (found | map('last') | map('int') | max) if found else 1 -%}

  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set intermediate_relation = make_intermediate_relation(target_relation) -%}
  {%- set backup_relation = make_backup_relation(target_relation, 'table' if existing_relation is none else existing_relation.type) -%}
  {{ drop_relation_if_exists(load_cached_relation(intermediate_relation)) }}
  {{ drop_relation_if_exists(load_cached_relation(backup_relation)) }}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {%- if parts > 1 -%}
    {{ log(this.identifier ~ ": " ~ parts ~ " parts of whole users (var build_part_rows)", info=True) }}
  {%- endif -%}
  {%- for part in range(parts) -%}
    {%- set part_sql = modules.re.sub(marker, '(hash(cast(\\1 as varchar)) % \\2 = ' ~ part ~ ')', compiled_code) -%}
    {%- if loop.first -%}
      {% call statement('main') -%}
        {{ create_table_as(False, intermediate_relation, part_sql) }}
      {%- endcall %}
    {%- else -%}
      {% call statement('part_' ~ part) -%}
        insert into {{ intermediate_relation }} {{ part_sql }}
      {%- endcall %}
    {%- endif -%}
  {%- endfor -%}

  {% if existing_relation is not none %}
    {{ adapter.rename_relation(existing_relation, backup_relation) }}
  {% endif %}
  {{ adapter.rename_relation(intermediate_relation, target_relation) }}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do apply_grants(target_relation, config.get('grants'), should_revoke=should_revoke(existing_relation, full_refresh_mode=True)) %}
  {% do persist_docs(target_relation, model) %}
  {{ adapter.commit() }}
  {{ drop_relation_if_exists(backup_relation) }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
