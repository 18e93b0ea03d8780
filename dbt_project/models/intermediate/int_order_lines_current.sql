{{ config(
    materialized=incremental_where_supported(),
    incremental_strategy='replace_recomputed_keys',
    unique_key='order_id',
    meta={'recomputes': 'orders_in_new_files'},
    contract={'enforced': target.type == 'duckdb'},
    on_schema_change='append_new_columns',
) }}
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

order_lines_to_compute as (
    select * from {{ ref('stg_orders') }}
    {% if is_incremental() -%}
        where {{ keys_this_build_recomputes() }}
    {%- endif %}
),

order_lines as (
    select * from order_lines_to_compute
    where
        source_file in (
            select files_extracted_by_as_of_date.source_file from files_extracted_by_as_of_date
        )
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
    -- Each order's number, after those of the orders stored already: the customer x item
    -- history groups lines into orders by this small integer rather than by the order's id,
    -- whose text costs more to read. Numbers only grow, so an order written again takes a new
    -- one, and no two stored orders share one.
    select
        order_id,
        source_file,
        {% if is_incremental() -%}
            (select coalesce(max(stored_lines.order_number), 0) from {{ this }} as stored_lines)
        {%- else -%}
            0
        {%- endif %} + {{ row_numbers('order_id') }} as order_number
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
