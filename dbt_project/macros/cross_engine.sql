{#- Where DuckDB and Spark SQL differ, one small macro each: the default (DuckDB) renders the
    SQL the models always had, spark__ the Spark SQL (dbt-spark, Spark 4) that gives the same
    table. The models call these instead of the dialect's own function. See README "On Spark". -#}

{#- Python models and the SQL models that call Python functions (text vectors, neighbours,
    user profiles, candidate similarity, EASE) run on DuckDB only: the functions live on
    dbt-duckdb's connection (udfs/). var python_models (unset or null: true on DuckDB, false
    elsewhere; the .yml of the Python models says the same) turns them off; fct_candidates then
    has null sim_ features, and the content and ease generators propose nothing (their gen_
    columns are null). -#}
{% macro python_models_enabled() %}
  {%- set given = var('python_models', none) -%}
  {{ return(target.type == 'duckdb' if given is none else given) }}
{% endmacro %}

{#- A raw file as a relation to select from: DuckDB's source already reads the path in place
    (external_location); Spark reads a Parquet or JSON file (or folder, or glob) with
    parquet.`path` / json.`path`. CSV on Spark: convert to Parquet first, or register a
    view and point the var at a Parquet export of it (see README). -#}
{% macro raw_relation(relation) %}
  {{ return(adapter.dispatch('raw_relation', 'recsql')(relation)) }}
{% endmacro %}

{% macro default__raw_relation(relation) %}
  {{ return(relation) }}
{% endmacro %}

{% macro spark__raw_relation(relation) %}
  {%- if not execute -%}{{ return(relation) }}{%- endif -%}
  {%- set location = namespace(path=none) -%}
  {%- for node in graph.sources.values() -%}
    {%- if node.source_name == relation.schema and node.name == relation.identifier -%}
      {%- set location.path = node.meta.get('external_location') or node.config.meta.get('external_location') -%}
    {%- endif -%}
  {%- endfor -%}
  {%- set path = (location.path or '') | string | trim -%}
  {%- set format = modules.re.search('(?i)[.](parquet|json|jsonl)$', path) -%}
  {%- if not format -%}
    {{ exceptions.raise_compiler_error("recsql on Spark reads Parquet or JSON files; " ~ relation ~ " is " ~ path ~ ". Convert it to Parquet (recsql demo-data writes Parquet by default).") }}
  {%- endif -%}
  {{ return(('json' if format.group(1) | lower != 'parquet' else 'parquet') ~ '.`' ~ path ~ '`') }}
{% endmacro %}

{#- The columns of a query, name -> DuckDB's type name (raw_columns compares with those). -#}
{% macro described_columns(query) %}
  {{ return(adapter.dispatch('described_columns', 'recsql')(query)) }}
{% endmacro %}

{% macro default__described_columns(query) %}
  {%- set columns = {} -%}
  {%- for row in run_query('describe ' ~ query).rows -%}
    {%- do columns.update({row[0]: row[1] | upper}) -%}
  {%- endfor -%}
  {{ return(columns) }}
{% endmacro %}

{% macro spark__described_columns(query) %}
  {%- set names = {'INT': 'INTEGER', 'STRING': 'VARCHAR', 'TIMESTAMP_NTZ': 'TIMESTAMP', 'TINYINT': 'TINYINT',
                   'BYTE': 'TINYINT', 'SHORT': 'SMALLINT', 'LONG': 'BIGINT', 'BINARY': 'BLOB'} -%}
  {%- set columns = {} -%}
  {%- for row in run_query('describe query ' ~ query).rows -%}
    {%- set spark_type = row[1] | upper -%}
    {%- do columns.update({row[0]: names.get(spark_type, spark_type)}) -%}
  {%- endfor -%}
  {{ return(columns) }}
{% endmacro %}

{#- Numbers raw rows in the order the file holds them. -#}
{% macro file_row_number() %}
  {{ return(adapter.dispatch('file_row_number', 'recsql')()) }}
{% endmacro %}

{% macro default__file_row_number() -%}
    row_number() over ()
{%- endmacro %}

{#- Spark numbers only ordered windows; monotonically_increasing_id follows the file order. -#}
{% macro spark__file_row_number() -%}
    row_number() over (order by monotonically_increasing_id())
{%- endmacro %}

{#- A number for each row of a table being built, unique within this build only (its order
    is the engine's): a narrow key for the joins that follow. -#}
{% macro build_row_id() %}
  {{ return(adapter.dispatch('build_row_id', 'recsql')()) }}
{% endmacro %}

{% macro default__build_row_id() -%}
    row_number() over ()
{%- endmacro %}

{#- Spark numbers only ordered windows; an ordered one would sort every row. -#}
{% macro spark__build_row_id() -%}
    monotonically_increasing_id()
{%- endmacro %}

{#- Every column but some: DuckDB * exclude (...), Spark * except (...). -#}
{% macro star_except(columns, relation='') %}
  {{ return(adapter.dispatch('star_except', 'recsql')(columns, relation)) }}
{% endmacro %}

{% macro default__star_except(columns, relation) -%}
    {{ relation ~ '.' if relation }}* exclude ({{ columns | join(', ') }})
{%- endmacro %}

{% macro spark__star_except(columns, relation) -%}
    {{ relation ~ '.' if relation }}* except ({{ columns | join(', ') }})
{%- endmacro %}

{#- Replace every match of a regular expression (RE2 on DuckDB, java.util.regex on Spark; the
    patterns used here mean the same in both). Spark reads backslash escapes in literals and
    writes back-references as $1. Jinja reads escapes in its string literals: pass a regex
    backslash doubled ('\\.', '\\1'), or '\1' arrives as the character U+0001. -#}
{% macro regexp_replace_all(expr, pattern, replacement) %}
  {{ return(adapter.dispatch('regexp_replace_all', 'recsql')(expr, pattern, replacement)) }}
{% endmacro %}

{% macro default__regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, {{ sql_string(pattern) }}, {{ sql_string(replacement) }}, 'g')
{%- endmacro %}

{% macro spark__regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, {{ sql_string(pattern) }}, {{ sql_string(modules.re.sub('\\\\([0-9])', '$\\1', replacement)) }})
{%- endmacro %}

{#- Case-insensitive regular expression tests; the pattern is a literal (macro sql_string). -#}
{% macro regexp_full_match_ci(expr, pattern_literal) %}
  {{ return(adapter.dispatch('regexp_full_match_ci', 'recsql')(expr, pattern_literal)) }}
{% endmacro %}

{% macro default__regexp_full_match_ci(expr, pattern_literal) -%}
    regexp_full_match({{ expr }}, {{ pattern_literal }}, 'i')
{%- endmacro %}

{% macro spark__regexp_full_match_ci(expr, pattern_literal) -%}
    {{ expr }} rlike concat('(?i)^(?:', {{ pattern_literal }}, ')$')
{%- endmacro %}

{% macro regexp_matches_ci(expr, pattern_literal) %}
  {{ return(adapter.dispatch('regexp_matches_ci', 'recsql')(expr, pattern_literal)) }}
{% endmacro %}

{% macro default__regexp_matches_ci(expr, pattern_literal) -%}
    regexp_matches({{ expr }}, {{ pattern_literal }}, 'i')
{%- endmacro %}

{% macro spark__regexp_matches_ci(expr, pattern_literal) -%}
    {{ expr }} rlike concat('(?i)', {{ pattern_literal }})
{%- endmacro %}

{#- Finite (not NaN, not +-inf); null stays null. -#}
{% macro is_finite(expr) %}
  {{ return(adapter.dispatch('is_finite', 'recsql')(expr)) }}
{% endmacro %}

{% macro default__is_finite(expr) -%}
    isfinite({{ expr }})
{%- endmacro %}

{% macro spark__is_finite(expr) -%}
    (not isnan({{ expr }}) and abs({{ expr }}) < double('infinity'))
{%- endmacro %}

{#- An integer type wide enough for any id a float column holds. -#}
{% macro wide_integer_type() %}
  {{ return(adapter.dispatch('wide_integer_type', 'recsql')()) }}
{% endmacro %}

{% macro default__wide_integer_type() %}{{ return('hugeint') }}{% endmacro %}

{% macro spark__wide_integer_type() %}{{ return('decimal(38, 0)') }}{% endmacro %}

{#- A timestamp from microseconds since 1970-01-01. -#}
{% macro timestamp_from_micros(micros) %}
  {{ return(adapter.dispatch('timestamp_from_micros', 'recsql')(micros)) }}
{% endmacro %}

{% macro default__timestamp_from_micros(micros) -%}
    make_timestamp({{ micros }})
{%- endmacro %}

{% macro spark__timestamp_from_micros(micros) -%}
    timestamp_micros({{ micros }})
{%- endmacro %}

{#- The value of `expr` on the row with the smallest `order_by`, rows where `expr` is null
    skipped (DuckDB's arg_min skips them; Spark's min_by would return the null). -#}
{% macro arg_min_not_null(expr, order_by) %}
  {{ return(adapter.dispatch('arg_min_not_null', 'recsql')(expr, order_by)) }}
{% endmacro %}

{% macro default__arg_min_not_null(expr, order_by) -%}
    arg_min({{ expr }}, {{ order_by }})
{%- endmacro %}

{% macro spark__arg_min_not_null(expr, order_by) -%}
    min_by({{ expr }}, case when {{ expr }} is not null then {{ order_by }} end)
{%- endmacro %}

{#- The continuous quantile of a timestamp column (DuckDB interpolates timestamps; Spark's
    percentile_cont takes numbers, so it interpolates microseconds). -#}
{% macro timestamp_quantile(expr, fraction) %}
  {{ return(adapter.dispatch('timestamp_quantile', 'recsql')(expr, fraction)) }}
{% endmacro %}

{% macro default__timestamp_quantile(expr, fraction) -%}
    quantile_cont({{ expr }}, {{ fraction }})
{%- endmacro %}

{% macro spark__timestamp_quantile(expr, fraction) -%}
    timestamp_micros(cast(percentile_cont({{ fraction }}) within group (order by unix_micros({{ expr }})) as bigint))
{%- endmacro %}

{#- Display text on Spark (see macro clean_text): no Python function there, so NFKC is done
    for what it changes in shop titles: full-width ASCII forms (U+FF01..U+FF5E) and the Unicode
    spaces; other compatibility forms (ligatures, superscripts) stay as they are. -#}
{% macro spark__clean_text(expr) %}
  {%- set full_width = "！＂＃＄％＆＇（）＊＋，－．／０１２３４５６７８９：；＜＝＞？＠ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ［＼］＾＿｀ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ｛｜｝～               　" -%}
  {%- set ascii = "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~" ~ ' ' * 16 -%}
    nullif(trim(regexp_replace(translate({{ expr }}, {{ sql_string(full_width) }}, {{ sql_string(ascii) }}), '(?U)\\s+', ' ')), '')
{% endmacro %}

{#- One row per part of a text split at a separator (a literal string, not a pattern). -#}
{% macro split_to_rows(expr, separator) %}
  {{ return(adapter.dispatch('split_to_rows', 'recsql')(expr, separator)) }}
{% endmacro %}

{% macro default__split_to_rows(expr, separator) -%}
    unnest(string_split({{ expr }}, {{ sql_string(separator, 'category_separator') }}))
{%- endmacro %}

{#- Spark splits at a regular expression: the separator is quoted (\Q...\E). -#}
{% macro spark__split_to_rows(expr, separator) -%}
    explode(split({{ expr }}, {{ sql_string('\\Q' ~ separator ~ '\\E', 'category_separator') }}))
{%- endmacro %}

{#- Where dbt-spark writes a table. A local session (profiles.yml target spark) keeps its catalog
    in memory, so the next session forgets the tables while their Parquet folders stay: each
    table gets an explicit folder, $RECSQL_WAREHOUSE/spark/<schema>/<table>, that a rebuild
    writes over (spark.sql.legacy.allowNonEmptyLocationInCTAS) and DuckDB reads
    (read_parquet('.../fct_candidates/*.parquet')). Other Spark targets (a cluster) keep
    dbt-spark's own rule: config location_root, else the metastore's managed location. -#}
{% macro spark__location_clause() %}
  {%- set location_root = config.get('location_root', validator=validation.any[basestring]) -%}
  {%- if location_root is none and target.name == 'spark' -%}
    {%- set location_root = env_var('RECSQL_WAREHOUSE', 'warehouse') ~ '/spark/' ~ model['schema'] -%}
  {%- endif -%}
  {%- if location_root is not none %}
    location '{{ location_root }}/{{ model['alias'] }}'
  {%- endif %}
{%- endmacro %}

{#- One row: each column's exact continuous percentiles over its non-null values in `relation`
    (a table or an aliased subquery) where `condition` holds, as columns <column>__<name> for
    each name: fraction in `fractions`. Position (n - 1) x fraction between the two order
    statistics around it, interpolated lo + (hi - lo) x (position - floor(position)) as in
    quantile_cont (DuckDB's own may differ in the last bit). Both engines' percentile_cont hold
    every value of every column in memory at once (DuckDB ran out of 4GB at 2M events with ~60
    columns); here each column is counted per distinct value in an aggregate of its own, which
    spills, and the order statistics are read off running counts. -#}
{% macro percentile_row(columns, fractions, relation, condition) -%}
    {%- set at = {} %}
    {%- for name, fraction in fractions.items() %}
    {%- do at.update({name: '(n - 1) * ' ~ fraction ~ 'e0'}) %}
    {%- endfor %}
    select
        {%- for column in columns %}{% set column_index = loop.index %}{% set last_column = loop.last %}{% for name in fractions %}
        max(case when column_index = {{ column_index }} then {{ name }} end) as {{ column }}__{{ name }}
        {{- ',' if not (loop.last and last_column) }}
        {%- endfor %}{% endfor %}
    from (
        select
            column_index,
            {%- for name in fractions %}
            {%- set lo = 'min(case when rows_through > floor(' ~ at[name] ~ ') then value end)' %}
            {%- set hi = 'min(case when rows_through > ceil(' ~ at[name] ~ ') then value end)' %}
            {{ lo }} + ({{ hi }} - {{ lo }}) * ({{ at[name] }} - floor({{ at[name] }})) as {{ name }}
            {{- ',' if not loop.last }}
            {%- endfor %}
        from (
            select
                column_index,
                value,
                sum(rows_at_value) over (
                    partition by column_index order by value rows between unbounded preceding and current row
                ) as rows_through,
                sum(rows_at_value) over (partition by column_index) as n
            from (
                {%- for column in columns %}
                select {{ loop.index }} as column_index, cast({{ column }} as double) as value, count(*) as rows_at_value
                from {{ relation }}
                where {{ condition }} and {{ column }} is not null
                group by cast({{ column }} as double)
                {{ 'union all' if not loop.last }}
                {%- endfor %}
            ) as counted
        ) as running
        group by column_index, n
    ) as percentiles
{%- endmacro %}

{#- The keyword that inlines a CTE where it is read. DuckDB materializes a CTE that a query
    reads twice: fct_candidates reads its candidates twice (category shares, then every feature
    join), and at 2M events copying those 26M rows spilled 8 GB of its 10 GB and took 121 s
    against 105 s inlined (the same rows). Spark SQL has no such keyword: its CTEs stay as written. -#}
{% macro inline_cte() %}
  {{ return(adapter.dispatch('inline_cte', 'recsql')()) }}
{% endmacro %}

{% macro default__inline_cte() -%}
    not materialized
{%- endmacro %}

{% macro spark__inline_cte() -%}
{%- endmacro %}

{#- Features monitor_feature_drift counts in one scan of fct_candidates, a grouping set each.
    DuckDB: 20 (61 features in 4 scans took 16 s at 2M events, one scan per feature 30 s).
    Spark expands every row once per grouping set (the demo's drift took 160 s against 31 s)
    and takes at most 64 grouping columns: one feature per scan there, a plain group by. -#}
{% macro drift_features_per_scan() %}
  {{ return(adapter.dispatch('drift_features_per_scan', 'recsql')()) }}
{% endmacro %}

{% macro default__drift_features_per_scan() -%}
    {{ return(20) }}
{%- endmacro %}

{% macro spark__drift_features_per_scan() -%}
    {{ return(1) }}
{%- endmacro %}
