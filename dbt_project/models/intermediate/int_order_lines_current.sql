-- The current version of every order, among the extracts made by the as-of date. A re-sent order
-- replaces its earlier versions entirely: its lines are those of the file whose name sorts last
-- among the files that contain the order, so lines dropped from the new version disappear and
-- nothing is counted twice.
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
where {{ is_extracted_by_as_of_date('source_file') }}
qualify source_file = max(source_file) over (partition by order_id)
