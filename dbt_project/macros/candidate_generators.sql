{#- The candidate generators: each model emits (snapshot, user_id, item_id, generator, score,
    generator_rank) for the generator names listed. int_candidates unions them and gives each
    name a gen_<name>_score and gen_<name>_rank column. Add a generator here and in a model.
    python: the model needs Python (DuckDB only); where it is off, its columns stay null. -#}
{% macro candidate_generators() %}
  {{ return([
      {'model': 'int_candidates_popular', 'names': ['popular_recent', 'popular_alltime']},
      {'model': 'int_candidates_popular_category', 'names': ['popular_category']},
      {'model': 'int_candidates_repurchase', 'names': ['repurchase']},
      {'model': 'int_candidates_covisit', 'names': ['covisit']},
      {'model': 'int_candidates_content', 'names': ['content'], 'python': true},
      {'model': 'int_candidates_item_knn', 'names': ['item_knn']},
      {'model': 'int_candidates_ease', 'names': ['ease'], 'python': true},
  ]) }}
{% endmacro %}

{% macro candidate_generator_names() %}
  {%- set names = [] -%}
  {%- for generator in candidate_generators() -%}
    {%- do names.extend(generator['names']) -%}
  {%- endfor -%}
  {{ return(names) }}
{% endmacro %}
