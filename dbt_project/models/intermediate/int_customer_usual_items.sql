{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_rows_to_rebuild(
        'customer_key', customers_with_usual_items_to_rename_sql(), entities=['orders', 'items']) }}"
) }}
-- Incremental: see macros/incremental.sql. It reads the load ledger to find new files:
-- depends_on: {{ source('raw', 'load_ledger') }}
-- depends_on: {{ source('raw', 'items') }}
-- depends_on: {{ ref('int_orders_to_recompute') }}
-- What the call list says each customer used to buy: the names of their top items
-- (int_customer_top_items), most first, separated by '; ', in one value per customer. Kept from
-- one build to the next, so that the call list does not name every customer's items again each
-- day (half of its time at 576,000 customers). A daily build writes the customers whose top
-- items it ranked again (those of the new orders) and those with a top item named in an item
-- extract that counts since the previous build (the name may have changed); an item extract
-- changed under its name makes it write every customer.
{%- set only_customers_to_rename = only_keys_to_rebuild(
    'customer_key', customers_with_usual_items_to_rename_sql(), ['orders', 'items']) %}

with top_items as (
    select * from {{ ref('int_customer_top_items') }}
    where {{ only_customers_to_rename }}
),

items as (
    select * from {{ ref('stg_items') }}
),

item_names as (
    select
        top_items.customer_id,
        top_items.customer_key,
        top_items.revenue_rank,
        -- An item the master lacks is named by its id.
        coalesce(items.item_name, top_items.item_id) as item_name
    from top_items
    left join items on top_items.item_id = items.item_id
)

select
    customer_id,
    customer_key,
    -- In rank order. One value per rank rather than an ordered string_agg, which sorts within
    -- every group.
    concat_ws(
        '; '
        {%- for rank in range(1, var('call_list_items') | int + 1) %},
        max(item_name) filter (where revenue_rank = {{ rank }})
        {%- endfor %}
    ) as items_they_used_to_buy
from item_names
group by customer_id, customer_key
