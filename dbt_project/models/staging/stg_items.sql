-- One row per item, from the extracts made by the as-of date: when they disagree, the row from the
-- file whose name sorts last wins (the last row of that file when it lists the item twice).
with ranked_rows as (
    select
        *,
        {{ master_row_rank('item_id') }} as master_row_rank
    from {{ source('raw', 'items') }}
    where {{ is_extracted_by_as_of_date('_source_file') }}
)

select
    item_id,
    item_name,
    category,
    _source_file as source_file,
    _source_line as source_line
from ranked_rows
where master_row_rank = 1
