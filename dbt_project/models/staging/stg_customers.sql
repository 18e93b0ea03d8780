-- One row per customer, from the extracts made by the as-of date: when they disagree, the row from
-- the file whose name sorts last wins (the last row of that file when it lists the customer twice).
with ranked_rows as (
    select
        *,
        {{ master_row_rank('customer_id') }} as master_row_rank
    from {{ source('raw', 'customers') }}
    where {{ is_extracted_by_as_of_date('_source_file') }}
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
from ranked_rows
where master_row_rank = 1
