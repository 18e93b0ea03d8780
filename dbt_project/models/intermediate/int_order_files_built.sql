-- The orders extract files the incremental order models have absorbed, and whether that build
-- saw everything (see macros/incremental.sql). Built after them, read by their next build.
-- depends_on: {{ ref('int_order_lines_current') }}
-- depends_on: {{ ref('int_orders') }}
-- depends_on: {{ ref('int_customer_item_history') }}
-- depends_on: {{ ref('int_customer_top_items') }}
-- depends_on: {{ ref('int_customer_item_history_changes') }}
select
    source_file,
    content_sha256,
    {{ sees_everything_sql() }} as sees_everything
from {{ source('raw', 'load_ledger') }}
where entity = 'orders'
