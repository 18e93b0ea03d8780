{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_rows_to_rebuild('order_id', orders_in_new_files_sql()) }}"
) }}
-- Incremental: see macros/incremental.sql (it reads the raw orders to find new files' orders).
-- depends_on: {{ ref('int_orders_to_recompute') }}
-- The current version of every order, among the extracts made by the as-of date. A re-sent order
-- replaces its earlier versions entirely: its lines are those of the file whose name sorts last
-- among the files that contain the order, so lines dropped from the new version disappear and
-- nothing is counted twice.
with files_extracted_by_as_of_date as (
    -- The rule applied once per file rather than once per line: it reads the date in the
    -- file's name, seconds over tens of millions of lines.
    select source_file from {{ source('raw', 'load_ledger') }}
    where entity = 'orders' and {{ is_extracted_by_as_of_date('source_file') }}
),

order_lines as (
    select * from {{ ref('stg_orders') }}
    where
        source_file in (
            select files_extracted_by_as_of_date.source_file from files_extracted_by_as_of_date
        )
        and {{ only_keys_to_rebuild('order_id', orders_in_new_files_sql()) }}
),

current_versions as (
    -- A grouping rather than a window over every line: the same answer, a fraction of the work.
    select
        order_id,
        max(source_file) as source_file
    from order_lines
    group by order_id
),

numbered_versions as (
    -- Each order's number, after those of the orders stored already: a daily build groups its
    -- customers' lines, scattered over the whole history, by this number rather than by the
    -- order's id, whose text costs more to read (macros/customer_item_history.sql). Numbers
    -- only grow, so an order written again takes a new one, and no two stored orders share one.
    select
        order_id,
        source_file,
        {{ last_stored_order_number() }} + row_number() over () as order_number
    from current_versions
)

select
    order_lines.order_id,
    order_lines.line_number,
    order_lines.order_date,
    order_lines.customer_id,
    {{ customer_key('order_lines.customer_id') }} as customer_key,
    order_lines.item_id,
    order_lines.quantity,
    order_lines.amount,
    order_lines.order_type,
    order_lines.source_file,
    order_lines.source_line,
    numbered_versions.order_number
from order_lines
inner join numbered_versions
    on
        order_lines.order_id = numbered_versions.order_id
        and order_lines.source_file = numbered_versions.source_file
