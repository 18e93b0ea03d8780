-- Order lines with the contract's defaults applied: a missing order type is an invoice, a missing
-- line number is the line's position within its order in its file. The position is computed
-- only for the files that lack line numbers: a window over every line of every file would cost
-- as much as the rest of the model.
with source_lines as (
    select * from {{ source('raw', 'orders') }}
),

files_without_line_numbers as (
    select distinct _source_file from source_lines
    where line_number is null
),

numbered_lines as (
    select
        source_lines.*,
        source_lines.line_number as line_number_or_default
    from source_lines
    left join files_without_line_numbers
        on source_lines._source_file = files_without_line_numbers._source_file
    where files_without_line_numbers._source_file is null
),

positioned_lines as (
    select
        source_lines.*,
        coalesce(
            source_lines.line_number,
            row_number() over (
                partition by source_lines._source_file, source_lines.order_id
                order by source_lines._source_line
            )
        ) as line_number_or_default
    from source_lines
    inner join files_without_line_numbers
        on source_lines._source_file = files_without_line_numbers._source_file
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
