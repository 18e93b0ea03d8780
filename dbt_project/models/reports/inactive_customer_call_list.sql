-- The inactive customers a sales team calls first: who they are, whom to ask for, when they
-- stopped, what they were worth and what they used to buy. Most valuable first.
with customers as (
    select * from {{ ref('customer_activity_report') }}
    where is_inactive
),

items as (
    -- The inactive customers' items only: the report holds every customer's, about as many
    -- rows as the order history.
    select * from {{ ref('customer_item_activity_report') }}
    where activity_status = 'inactive'
),

top_items as (
    -- The five items each customer spent most on.
    select * from items
    where purchase_count > 0
    qualify row_number() over (
        partition by customer_id order by net_revenue desc, item_id asc
    ) <= 5
),

usual_items as (
    select
        customer_id,
        string_agg(coalesce(item_name, item_id), '; ' order by net_revenue desc, item_id asc)
            as items_they_used_to_buy
    from top_items
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
