{{ config(
    materialized=incremental_where_supported(),
    incremental_strategy='replace_recomputed_keys',
    unique_key='customer_id',
    meta={'recomputes': 'customers_to_recompute'},
) }}
-- Every customer, from the customer master and from visible orders, with their master data and
-- purchase history: what the customer report computes each customer's status from. A customer
-- found only in orders has no master data (name empty) and no billing cycle. Nothing here moves
-- with the date: the status and the days since the last purchase are computed by the report.
with customers_in_master as (
    select * from {{ ref('stg_customers') }}
    {% if is_incremental() -%}
        where {{ keys_this_build_recomputes() }}
    {%- endif %}
),

purchase_history as (
    select * from {{ ref('int_customer_purchase_history') }}
    {% if is_incremental() -%}
        where {{ keys_this_build_recomputes() }}
    {%- endif %}
),

all_customers as (
    select customer_id from customers_in_master
    union
    select customer_id from purchase_history
)

select
    all_customers.customer_id,
    {{ customer_key('all_customers.customer_id') }} as customer_key,
    customers_in_master.customer_name,
    customers_in_master.email,
    customers_in_master.sales_rep,
    customers_in_master.segment,
    customers_in_master.billing_cycle,
    purchase_history.first_purchase_date,
    purchase_history.last_purchase_date,
    coalesce(purchase_history.purchase_count, 0) as purchase_count,
    coalesce(purchase_history.lifetime_net_revenue, 0) as lifetime_net_revenue,
    coalesce(purchase_history.revenue_last_365_days, 0) as revenue_last_365_days,
    coalesce(purchase_history.purchase_date_count, 0) as purchase_date_count,
    purchase_history.usual_days_between_purchases,
    coalesce(purchase_history.revenue_at_risk, 0) as revenue_at_risk,
    case
        when purchase_history.purchase_count >= 2
            then
                {{ dbt.datediff(
                    'purchase_history.first_purchase_date',
                    'purchase_history.last_purchase_date',
                    'day'
                ) }}
                / (purchase_history.purchase_count - 1)
    end as avg_days_between_purchases
from all_customers
left join customers_in_master on all_customers.customer_id = customers_in_master.customer_id
left join purchase_history on all_customers.customer_id = purchase_history.customer_id
-- In customer order, so that a build from scratch writes the same table, and the same published
-- files, every time.
order by all_customers.customer_id
