{{ config(materialized='view') }}
-- The inactive customers a sales team calls first: who they are, whom to ask for, when they
-- stopped, what they were worth and what they used to buy. Most valuable first.
with customers as (
    select * from {{ ref('customer_activity_report') }}
    where is_inactive
),

top_items as (
    -- The items each customer spent most on (var call_list_items), kept by the incremental build.
    select * from {{ ref('int_customer_top_items') }}
),

items as (
    select * from {{ ref('stg_items') }}
),

item_names as (
    select
        top_items.customer_id,
        top_items.revenue_rank,
        coalesce(items.item_name, top_items.item_id) as item_name
    from top_items
    inner join customers on top_items.customer_id = customers.customer_id
    left join items on top_items.item_id = items.item_id
),

usual_items as (
    -- In rank order. One value per rank rather than an ordered string_agg, which sorts within
    -- every group: half the time of the whole call list.
    select
        customer_id,
        concat_ws(
            '; '
            {%- for rank in range(1, var('call_list_items') | int + 1) %},
            max(item_name) filter (where revenue_rank = {{ rank }})
            {%- endfor %}
        ) as items_they_used_to_buy
    from item_names
    group by customer_id
)

select
    customers.as_of_date,
    customers.customer_id,
    customers.customer_name,
    customers.email,
    customers.sales_rep,
    customers.segment,
    customers.billing_cycle,
    customers.last_purchase_date,
    customers.days_since_last_purchase,
    customers.inactive_since,
    customers.lifetime_net_revenue,
    customers.revenue_last_365_days,
    usual_items.items_they_used_to_buy
from customers
left join usual_items on customers.customer_id = usual_items.customer_id
order by customers.lifetime_net_revenue desc, customers.customer_id asc
