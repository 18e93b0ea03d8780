-- Incremental: see macros/incremental.sql. It reads the load ledger to find new files:
-- depends_on: {{ source('raw', 'load_ledger') }}
-- depends_on: {{ ref('int_orders_to_recompute') }}
-- After int_orders, which checks that each new order names one customer:
-- depends_on: {{ ref('int_orders') }}
-- The customer x item history of the customers this build recomputes (macros/
-- customer_item_history.sql): a daily build's new rows for int_customer_item_history, kept apart
-- so that the models that follow (int_customer_item_history_recent, int_customer_top_items)
-- read these few rows rather than searching the whole history for them. Empty when the build
-- recomputes everything: when neither of those models may recompute only some customers.
{% if incremental_run_is_safe(for_model='int_customer_item_history_recent')
    or incremental_run_is_safe(for_model='int_customer_top_items') -%}
    {{ customer_item_history_of_new_orders_customers_sql() }}
{%- else -%}
    {{ customer_item_history_sql('false') }}
{%- endif %}
