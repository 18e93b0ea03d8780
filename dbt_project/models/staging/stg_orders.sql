-- Order lines with the contract's defaults applied: a missing order type is an invoice, a missing
-- line number is the line's position within its order in its file.
with source_lines as (
    select * from {{ source('raw', 'orders') }}
)

select
    order_id,
    order_date,
    customer_id,
    item_id,
    quantity,
    amount,
    coalesce(
        line_number,
        row_number() over (partition by _source_file, order_id order by _source_line)
    ) as line_number,
    coalesce(order_type, 'invoice') as order_type,
    _source_file as source_file,
    _source_line as source_line
from source_lines
