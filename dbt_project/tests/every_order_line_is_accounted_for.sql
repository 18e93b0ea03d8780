{{ config(meta={"dagster": {"ref": {"name": "int_order_lines_current"}}}) }}
-- Per orders file: the rows read (load ledger) are the lines that count (current version of
-- their order) plus the lines set aside (superseded by a later file, or in a file extracted after
-- the as-of date) plus the rows quarantined. A row returned here is a file whose rows were lost
-- or counted twice on their way to the reports.
with ledger as (
    select
        source_file,
        rows_read
    from {{ source('raw', 'load_ledger') }}
    where entity = 'orders'
),

raw_lines as (
    select
        _source_file as source_file,
        count(*) as line_count
    from {{ source('raw', 'orders') }}
    group by _source_file
),

current_lines as (
    select
        source_file,
        count(*) as line_count
    from {{ ref('int_order_lines_current') }}
    group by source_file
),

quarantined as (
    select
        source_file,
        count(*) as row_count
    from {{ source('raw', 'rejected_rows') }}
    where entity = 'orders'
    group by source_file
),

accounting as (
    select
        ledger.source_file,
        ledger.rows_read,
        coalesce(current_lines.line_count, 0) as rows_current,
        coalesce(raw_lines.line_count, 0) - coalesce(current_lines.line_count, 0)
            as rows_superseded,
        coalesce(quarantined.row_count, 0) as rows_quarantined
    from ledger
    left join raw_lines on ledger.source_file = raw_lines.source_file
    left join current_lines on ledger.source_file = current_lines.source_file
    left join quarantined on ledger.source_file = quarantined.source_file
)

select *
from accounting
where
    rows_read != rows_current + rows_superseded + rows_quarantined
    or rows_superseded < 0
