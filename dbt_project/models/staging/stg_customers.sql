-- One row per customer, from the extracts made by the as-of date: when they disagree, the row from
-- the file whose name sorts last wins (the last row of that file when it lists the customer twice).
with source_rows as (
    {{ master_rows_in_force(source('raw', 'customers'), 'customer_id') }}
)

select
    customer_id,
    customer_name,
    email,
    sales_rep,
    segment,
    billing_cycle,
    _source_file as source_file,
    _source_line as source_line
from source_rows
