-- The current version of every order. A re-sent order replaces its earlier versions entirely:
-- its lines are those of the file whose name sorts last among the files that contain the order,
-- so lines dropped from the new version disappear and nothing is counted twice.
with order_lines as (
    select * from {{ ref('stg_orders') }}
)

select
    order_id,
    line_number,
    order_date,
    customer_id,
    item_id,
    quantity,
    amount,
    order_type,
    source_file,
    source_line
from order_lines
qualify source_file = max(source_file) over (partition by order_id)
