{#- Checks on a raw CSV file before staging reads it, so a damaged file stops the build with the
    file, the line and the reason instead of DuckDB's sniffer guessing another dialect (an
    unterminated quote read as a one-column file, a short line dropped) and the loss going
    unnoticed. Parquet and JSON carry their own structure and are not checked here. -#}

{#- {path, lenient} of a CSV source, or none: a quoted path/glob ending in .csv/.tsv/.txt
    (optionally compressed), or a read_csv(...) call the user wrote (lenient when it says
    ignore_errors = true). -#}
{% macro csv_location(relation) %}
  {%- set location = (relation.external or '') | string | trim -%}
  {%- set call = modules.re.match("(?is)^read_csv(_auto)?\\s*[(]\\s*'((?:[^']|'')*)'", location) -%}
  {%- if call -%}
    {{ return({'path': call.group(2).replace("''", "'"),
               'lenient': modules.re.search('(?i)ignore_errors\\s*=\\s*true', location) is not none}) }}
  {%- endif -%}
  {%- set quoted = modules.re.fullmatch("'((?:[^']|'')*)'", location) -%}
  {%- if quoted and modules.re.search('(?i)[.](csv|tsv|txt)([.]gz|[.]zst)?$', quoted.group(1)) -%}
    {{ return({'path': quoted.group(1).replace("''", "'"), 'lenient': false}) }}
  {%- endif -%}
  {{ return(none) }}
{% endmacro %}

{#- The files a CSV location names, each with its size: none matching or an empty one stops
    the build with a message saying so. -#}
{% macro csv_files(location, entity) %}
  {%- set listed = run_query('select filename, size from read_blob(' ~ sql_string(location.path) ~ ') order by filename') -%}
  {%- if listed.rows | length == 0 -%}
    {{ exceptions.raise_compiler_error("recsql: no " ~ entity ~ " file matches " ~ location.path ~ ". Point " ~ entity ~ "_path at your file (--vars '{" ~ entity ~ "_path: data/" ~ entity ~ ".csv}').") }}
  {%- endif -%}
  {%- for row in listed.rows if row[1] == 0 -%}
    {{ exceptions.raise_compiler_error("recsql: the " ~ entity ~ " file " ~ row[0] ~ " is empty (0 bytes): it needs a header line naming its columns, then one line per row.") }}
  {%- endfor -%}
  {{ return(listed.rows | map(attribute=0) | list) }}
{% endmacro %}

{#- Scan one CSV file strictly (RFC 4180 quoting, the delimiter DuckDB detects, every line
    the header's width) and return (rows read, [(line, reason, text)] of lines it could not
    read, the header's width). -#}
{% macro csv_strict_scan(file) %}
  {%- set literal = sql_string(file) -%}
  {%- set dialect = run_query('select Delimiter, Quote, Escape from sniff_csv(' ~ literal ~ ', store_rejects = true)').rows[0] -%}
  {%- set width = run_query('describe select * from read_csv(' ~ literal ~ ', store_rejects = true)').rows | length -%}
  {%- set quote = '"' if dialect[1] in ('(empty)', '') else dialect[1] -%}
  {%- set escape = quote if dialect[2] in ('(empty)', '') else dialect[2] -%}
  {%- set columns = [] -%}
  {%- for i in range(width) -%}{%- do columns.append("'c" ~ i ~ "': 'varchar'") -%}{%- endfor -%}
  {%- do run_query('drop table if exists recsql_csv_rejects') -%}
  {%- do run_query('drop table if exists recsql_csv_scans') -%}
  {%- set counted = run_query(
      'select count(*) from read_csv(' ~ literal ~ ', auto_detect = false, header = true'
      ~ ', delim = ' ~ sql_string(dialect[0]) ~ ', quote = ' ~ sql_string(quote) ~ ', escape = ' ~ sql_string(escape)
      ~ ', columns = {' ~ columns | join(', ') ~ '}'
      ~ ", store_rejects = true, rejects_table = 'recsql_csv_rejects', rejects_scan = 'recsql_csv_scans')") -%}
  {%- set rejected = run_query(
      'select line, error_message, error_type, left(coalesce(csv_line, \'\'), 120)'
      ~ ' from recsql_csv_rejects order by line, error_type') -%}
  {%- set lines = [] -%}
  {%- for row in rejected.rows -%}{%- do lines.append((row[0], row[1] ~ ' (' ~ row[2] ~ ')', row[3])) -%}{%- endfor -%}
  {{ return((counted.rows[0][0], lines, width)) }}
{% endmacro %}

{#- Stop the build when a CSV source has an empty file or a line the reader cannot parse. A
    read_csv(..., ignore_errors = true) the user chose is not stopped: the reconciliation test
    (assert_file_rows_reconcile) counts and reports the lines it skipped. -#}
{% macro check_raw_file(relation, entity) %}
  {%- if not execute -%}{{ return(none) }}{%- endif -%}
  {%- set location = csv_location(relation) -%}
  {%- if location is none -%}{{ return(none) }}{%- endif -%}
  {%- set files = csv_files(location, entity) -%}
  {%- if location.lenient -%}{{ return(none) }}{%- endif -%}
  {%- for file in files -%}
    {%- set scan = csv_strict_scan(file) -%}
    {%- if scan[1] -%}
      {%- set shown = [] -%}
      {%- for line, reason, text in scan[1][:5] -%}
        {%- do shown.append('line ' ~ line ~ ': ' ~ reason ~ ': ' ~ text) -%}
      {%- endfor -%}
      {{ exceptions.raise_compiler_error(
          "recsql: the " ~ entity ~ " file " ~ file ~ " has " ~ scan[1] | map(attribute=0) | unique | list | length
          ~ " line(s) that cannot be read as CSV, so nothing was loaded:\n  " ~ shown | join('\n  ')
          ~ "\nFix those lines (a field with a quote or the delimiter in it must be quoted, every line needs the header's "
          ~ scan[2] ~ " fields)." ) }}
    {%- endif -%}
  {%- endfor -%}
{% endmacro %}

{#- Rows in the raw file(s) as the file holds them, independent of how leniently staging read
    them: for CSV the strict scan's rows plus every line it could not parse, for Parquet the
    row count in its metadata, otherwise none (not measurable apart from the reader). -#}
{% macro raw_file_rows(relation) %}
  {%- if not execute -%}{{ return(none) }}{%- endif -%}
  {%- set location = csv_location(relation) -%}
  {%- if location is not none -%}
    {%- set total = namespace(rows=0, skipped=[]) -%}
    {%- for file in csv_files(location, 'raw') -%}
      {%- set scan = csv_strict_scan(file) -%}
      {%- set total.rows = total.rows + scan[0] + (scan[1] | map(attribute=0) | unique | list | length) -%}
      {%- for line, reason, text in scan[1] -%}{%- do total.skipped.append(file ~ ' line ' ~ line ~ ': ' ~ reason) -%}{%- endfor -%}
    {%- endfor -%}
    {{ return({'rows': total.rows, 'skipped': total.skipped | unique | list}) }}
  {%- endif -%}
  {%- set external = (relation.external or '') | string -%}
  {%- set quoted = modules.re.fullmatch("'((?:[^']|'')*[.]parquet)'", external.strip()) -%}
  {%- if quoted -%}
    {%- set counted = run_query('select count(*) from read_parquet(' ~ external ~ ')') -%}
    {{ return({'rows': counted.rows[0][0], 'skipped': []}) }}
  {%- endif -%}
  {{ return(none) }}
{% endmacro %}
