{#- Attributes of users and items the ranker learns from, named by vars: columns of the users
    file (user_attributes: age band, gender, region) and of the items file (item_attributes:
    department, genre; item_numeric_attributes: release year, pack size). Categorical ones
    become LightGBM categorical features user_attr_<name> / item_attr_<name>; numeric ones
    item_num_<name>. Attributes are static: they carry no time, so no cutoff applies. -#}

{#- [{'column': the file's column, 'feature': the feature name}] for one of the three vars. -#}
{% macro attribute_features(var_name) %}
  {%- set prefixes = {'user_attributes': 'user_attr_', 'item_attributes': 'item_attr_',
                      'item_numeric_attributes': 'item_num_'} -%}
  {%- set given = var(var_name, []) or [] -%}
  {%- if given is string or given is mapping or given is not iterable -%}
    {{ exceptions.raise_compiler_error("recsql: " ~ var_name ~ " must be a list of column names, e.g. [age, gender]; got " ~ (given | string)) }}
  {%- endif -%}
  {%- set features = [] -%}
  {%- for column in given -%}
    {%- if column is not string or not column -%}
      {{ exceptions.raise_compiler_error("recsql: " ~ var_name ~ " lists column names; " ~ (column | string) ~ " is not one") }}
    {%- endif -%}
    {%- set feature = prefixes[var_name] ~ modules.re.sub('[^a-z0-9]+', '_', column | lower).strip('_') -%}
    {%- if feature in features | map(attribute='feature') | list -%}
      {{ exceptions.raise_compiler_error("recsql: " ~ var_name ~ " names two columns that make the same feature " ~ feature ~ "; rename one") }}
    {%- endif -%}
    {%- do features.append({'column': column, 'feature': feature}) -%}
  {%- endfor -%}
  {{ return(features) }}
{% endmacro %}

{#- Feature names of every mapped attribute, categorical first. -#}
{% macro attribute_feature_names() %}
  {%- set names = [] -%}
  {%- for var_name in ['user_attributes', 'item_attributes', 'item_numeric_attributes'] -%}
    {%- for attribute in attribute_features(var_name) -%}
      {%- do names.append(attribute.feature) -%}
    {%- endfor -%}
  {%- endfor -%}
  {{ return(names) }}
{% endmacro %}

{#- The columns of one staging model for its attributes, checked against the file: a column the
    file lacks stops the build naming the file, the column and the var. `file_var` is the
    path var that turns the file off (users_path / items_path: false). -#}
{% macro attribute_columns(var_name, available, relation, entity) %}
  {%- for attribute in attribute_features(var_name) -%}
    {%- if execute and attribute.column not in available -%}
      {{ exceptions.raise_compiler_error(
          "recsql: " ~ var_name ~ " names column '" ~ attribute.column ~ "', which the " ~ entity
          ~ " file " ~ relation ~ " does not have. Its columns are: " ~ (available.keys() | list | join(', '))) }}
    {%- endif -%}
    {%- if var_name == 'item_numeric_attributes' %}
        {{ raw_number(sql_identifier(attribute.column), available.get(attribute.column, '')) }} as {{ attribute.feature }},
    {%- else %}
        nullif(trim({{ raw_text(sql_identifier(attribute.column)) }}), '') as {{ attribute.feature }},
    {%- endif -%}
  {%- endfor -%}
{% endmacro %}

{#- A build that names attributes of a file it was told not to read stops here. -#}
{% macro require_attribute_file(var_name, path_var, entity) %}
  {%- if attribute_features(var_name) and var(path_var) is false -%}
    {{ exceptions.raise_compiler_error("recsql: " ~ var_name ~ " names columns of the " ~ entity ~ " file, but " ~ path_var ~ " is false (no " ~ entity ~ " file). Give " ~ path_var ~ " or leave " ~ var_name ~ " empty.") }}
  {%- endif -%}
{% endmacro %}
