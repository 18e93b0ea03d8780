-- One row per item, from the extracts made by the as-of date: when they disagree, the row from the
-- file whose name sorts last wins (the last row of that file when it lists the item twice).
with source_rows as (
    {{ master_rows_in_force(source('raw', 'items'), 'item_id') }}
)

select
    item_id,
    item_name,
    category,
    _source_file as source_file,
    _source_line as source_line
from source_rows
