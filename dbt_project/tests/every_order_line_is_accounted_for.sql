{{ config(meta={"dagster": {"ref": {"name": "int_order_lines_current"}}}) }}
-- Per orders file: the rows read (load ledger) are the lines that count (current version of
-- their order) plus the lines set aside (superseded by a later file, or in a file extracted after
-- the as-of date) plus the rows quarantined. A row returned here is a file whose rows were lost
-- or counted twice on their way to the reports.
-- The lines set aside are counted from the raw lines alone, by the rule itself (an order's lines
-- are those of the file whose name sorts last among the files extracted by the as-of date that
-- hold it), never as the raw lines minus the current ones: a line lost on its way would then
-- count as set aside, and the test could not fail.
with ledger as (
    select
        source_file,
        rows_read
    from {{ source('raw', 'load_ledger') }}
    where entity = 'orders'
),

files_extracted_by_as_of_date as (
    select ledger.source_file from ledger
    where {{ is_extracted_by_as_of_date('ledger.source_file') }}
),

raw_lines as (
    select
        _source_file as source_file,
        count(*) as line_count
    from {{ source('raw', 'orders') }}
    group by _source_file
),

latest_versions as (
    select
        order_id,
        max(_source_file) as latest_file
    from {{ source('raw', 'orders') }}
    where
        _source_file in (
            select files_extracted_by_as_of_date.source_file
            from files_extracted_by_as_of_date
        )
    group by order_id
),

set_aside_lines as (
    select
        raw_orders._source_file as source_file,
        count(*) as line_count
    from {{ source('raw', 'orders') }} as raw_orders
    left join latest_versions on raw_orders.order_id = latest_versions.order_id
    where
        raw_orders._source_file not in (
            select files_extracted_by_as_of_date.source_file
            from files_extracted_by_as_of_date
        )
        or raw_orders._source_file < latest_versions.latest_file
    group by raw_orders._source_file
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
        coalesce(raw_lines.line_count, 0) as rows_loaded,
        coalesce(current_lines.line_count, 0) as rows_current,
        coalesce(set_aside_lines.line_count, 0) as rows_superseded,
        coalesce(quarantined.row_count, 0) as rows_quarantined
    from ledger
    left join raw_lines on ledger.source_file = raw_lines.source_file
    left join current_lines on ledger.source_file = current_lines.source_file
    left join set_aside_lines on ledger.source_file = set_aside_lines.source_file
    left join quarantined on ledger.source_file = quarantined.source_file
)

select *
from accounting
where rows_read != rows_current + rows_superseded + rows_quarantined
