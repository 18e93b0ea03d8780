{{ config(
    severity="warn",
    store_failures=true,
    meta={"dagster": {"ref": {"name": "int_order_lines_current"}}}
) }}
-- Extract files whose name carries a date after the as-of date do not count for the reports (a
-- run on the as-of date could not have seen them). That is expected when rebuilding a past date,
-- up to today; a file named after both the as-of date and today is named ahead of its time, and
-- this warning names it. Its rows are stored (store_failures) for the Dagster step to list.
-- Shown as a check of the model that sets the files aside:
-- depends_on: {{ ref('int_order_lines_current') }}
select
    entity,
    source_file,
    rows_loaded,
    {{ extract_file_date('source_file') }} as extracted_on
from {{ source('raw', 'load_ledger') }}
where {{ extract_file_date('source_file') }} > greatest({{ as_of_date() }}, current_date)
