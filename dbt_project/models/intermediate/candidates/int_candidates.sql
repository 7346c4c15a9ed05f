-- The union of all generators: one row per snapshot, user and item that any generator
-- proposed and that exists at the cutoff, with each generator's score and rank (null when
-- that generator did not propose it). candidate_id numbers the rows of this build: the wide
-- joins of fct_candidates (similarity, category shares) key on it, one integer instead of
-- three text columns (at 1M events: fct_candidates 52-55 s instead of 78-86 s, numbering 6 s).
with
proposed as (
    {% for generator in candidate_generators() if python_models_enabled() or not generator.get('python') -%}
    select snapshot, user_id, item_id, generator, score, generator_rank
    from {{ ref(generator['model']) }}
    {{ 'union all' if not loop.last }}
    {% endfor %}
),

available as (select snapshot, item_id from {{ ref('int_available_items') }}),

pivoted as (
    select
        proposed.snapshot,
        proposed.user_id,
        proposed.item_id,
        {% for name in candidate_generator_names() -%}
        max(case when proposed.generator = '{{ name }}' then proposed.score end) as gen_{{ name }}_score,
        min(case when proposed.generator = '{{ name }}' then proposed.generator_rank end) as gen_{{ name }}_rank
        {{- ',' if not loop.last }}
        {% endfor %}
    from proposed
    inner join available
        on proposed.snapshot = available.snapshot and proposed.item_id = available.item_id
    group by proposed.snapshot, proposed.user_id, proposed.item_id
)

-- generators that proposed the item: a rank is never null (row numbers), so a flag per
-- generator's rank, summed. Counted inside the pivot it took 8 more aggregate states per group:
-- at 2M events 54.8 s of CPU against 44.2 (the pivot spills either way; 10.4 GB against 9.3)
select
    *,
    cast(
        {% for name in candidate_generator_names() -%}
        case when gen_{{ name }}_rank is not null then 1 else 0 end{{ ' +' if not loop.last }}
        {% endfor -%}
        as bigint
    ) as gen_count,
    {{ build_row_id() }} as candidate_id
from pivoted
