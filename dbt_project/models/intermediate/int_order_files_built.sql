-- The orders extract files the incremental order models have absorbed, whether that build saw
-- everything, its as-of date and its business settings (see macros/incremental.sql). Built
-- after them, read by their next build.
-- depends_on: {{ ref('int_order_lines_current') }}
-- depends_on: {{ ref('int_orders') }}
-- depends_on: {{ ref('int_customer_item_history') }}
-- depends_on: {{ ref('int_customer_item_history_recomputed') }}
-- depends_on: {{ ref('int_customer_top_items') }}
-- depends_on: {{ ref('int_customer_item_history_changes') }}
-- depends_on: {{ ref('int_customer_purchase_history') }}
select
    source_file,
    content_sha256,
    {{ sees_everything_sql() }} as sees_everything,
    {{ as_of_date() }} as as_of_date,
    '{{ incremental_business_settings() }}' as business_settings
from {{ source('raw', 'load_ledger') }}
where entity = 'orders'
