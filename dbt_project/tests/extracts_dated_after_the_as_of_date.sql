{{ config(severity="warn", meta={"dagster": {"ref": {"name": "int_order_lines_current"}}}) }}
-- Extract files whose name carries a date after the as-of date do not count for the reports (a
-- run on the as-of date could not have seen them). Expected when rebuilding a past date; on a
-- daily run it means a file is named ahead of its time, and this warning names it.
-- Shown as a check of the model that sets the files aside:
-- depends_on: {{ ref('int_order_lines_current') }}
select
    entity,
    source_file,
    rows_loaded
from {{ source('raw', 'load_ledger') }}
where not {{ is_extracted_by_as_of_date('source_file') }}
