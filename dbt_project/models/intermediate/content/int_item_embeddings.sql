-- One row per item: the text it is embedded from (title. category. brand. description, the
-- parts it has), the embedding model and the L2-normalised vector. recsql_embed (udfs/) reads
-- its cache first and encodes only texts never seen; texts are deduplicated and fed in length
-- order so each batch the model sees pads little. A table: the function lives on dbt's
-- connection only.
{{ config(enabled=python_models_enabled()) }}  {#- calls Python functions: DuckDB only -#}
with
items as (select * from {{ ref('int_items_clean') }}),

texts as (
    select
        item_id,
        concat_ws('. ', title, nullif(category, 'unknown'), brand, description) as embedding_text
    from items
),

unique_texts as (
    select distinct embedding_text from texts
),

embedded as (
    select embedding_text, recsql_embed(embedding_text) as embedding
    from (select embedding_text from unique_texts order by length(embedding_text), embedding_text) as by_length
),

item_embeddings as (
    select
        texts.item_id,
        row_number() over (order by texts.item_id) - 1 as item_row,
        texts.embedding_text,
        recsql_embedding_model() as model_id,
        embedded.embedding
    from texts
    inner join embedded on texts.embedding_text = embedded.embedding_text
)

select * from item_embeddings
