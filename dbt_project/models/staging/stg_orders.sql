-- Order lines with the contract's defaults applied: a missing order type is an invoice, a missing
-- line number is the line's position within its order in its file. The position is computed
-- only for the files that lack line numbers: a window over every line of every file would cost
-- as much as the rest of the model.
--
-- The CTEs are not materialized (macro not_materialized), and files are told apart with `in`
-- lists rather than joins, so that a filter on this view (the orders an incremental build
-- recomputes) reaches the scan of the raw table: the build then reads those orders' rows only,
-- not the whole history.
with source_lines as {{ not_materialized() }} (
    select * from {{ source('raw', 'orders') }}
),

files_without_line_numbers as {{ not_materialized() }} (
    select source_lines._source_file from source_lines
    where source_lines.line_number is null
),

numbered_lines as (
    select
        *,
        line_number as line_number_or_default
    from source_lines
    where
        line_number is not null
        and _source_file not in (
            select files_without_line_numbers._source_file from files_without_line_numbers
        )
),

positioned_lines as (
    select
        *,
        coalesce(
            line_number,
            row_number() over (partition by _source_file, order_id order by _source_line)
        ) as line_number_or_default
    from source_lines
    where
        _source_file in (
            select files_without_line_numbers._source_file from files_without_line_numbers
        )
),

lines as (
    select * from numbered_lines
    union all
    select * from positioned_lines
)

select
    order_id,
    order_date,
    customer_id,
    item_id,
    quantity,
    amount,
    line_number_or_default as line_number,
    coalesce(order_type, 'invoice') as order_type,
    _source_file as source_file,
    _source_line as source_line
from lines
