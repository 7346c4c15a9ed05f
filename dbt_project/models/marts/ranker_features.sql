-- The ranker's feature list, in order (macro ranker_features): what `recsql train` reads so it
-- never hard-codes features. One row per feature; `kind` says which are categorical.
with
features as (
    {% for name in ranker_features() -%}
    select
        '{{ name }}' as feature_name,
        '{{ feature_family(name) }}' as family,
        '{{ feature_kind(name) }}' as kind,
        {{ loop.index }} as position
    {{ 'union all' if not loop.last }}
    {% endfor %}
)

select * from features
