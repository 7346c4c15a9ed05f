-- The candidates the ranker's table carries. Test, serve and the latest train snapshot (it
-- chooses the boosting rounds) keep every row of int_candidates; a rolled-back train snapshot
-- keeps every positive and at most var train_negatives_per_query negatives per (snapshot,
-- user) (int_candidate_sample_drawn). A fit learns from that many negatives per query anyway
-- (`recsql train --negatives-per-query`), so carrying the rest through every feature join only
-- cost time: at 2M events they were a third of fct_candidates. A view: the rows passed through
-- are not copied (as a table this copy took 64 s at 2M events).
-- sample_weight: rows of the whole candidate list a row stands for (above 1 only on drawn
-- negatives), so weighted sums count the whole list (monitor_label_balance uses them).
{{ config(materialized='view') }}
with
drawn as (select * from {{ ref('int_candidate_sample_drawn') }}),
sampled_snapshots as (select distinct snapshot from drawn)

select candidates.*, 1e0 as sample_weight
from {{ ref('int_candidates') }} as candidates
where candidates.snapshot not in (select snapshot from sampled_snapshots)
union all
select * from drawn
