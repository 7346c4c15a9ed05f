-- Each train cutoff comes before the test cutoff, and the test labels end where serve begins.
with
snapshots as (select * from {{ ref('int_snapshots') }}),
test as (select cutoff_ts, label_end_ts from snapshots where split = 'test'),
serve as (select cutoff_ts from snapshots where split = 'serve'),

misordered as (
    select snapshots.snapshot, snapshots.cutoff_ts
    from snapshots
    cross join test
    where (snapshots.split = 'train' and (snapshots.cutoff_ts >= test.cutoff_ts or snapshots.label_end_ts > test.cutoff_ts))
    union all
    select 'serve', serve.cutoff_ts
    from serve
    cross join test
    where serve.cutoff_ts <> test.label_end_ts
)

select * from misordered
