{{ config(materialized=report_materialization()) }}
-- The inactive customers a sales team calls first: who they are, whom to ask for, when they
-- stopped, what they were worth and what they used to buy. Most valuable first.
with customers as (
    select * from {{ ref('customer_activity_report') }}
    where is_inactive
),

usual_items as (
    -- Their top items' names, one value per customer, kept by the incremental build.
    select * from {{ ref('int_customer_usual_items') }}
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
