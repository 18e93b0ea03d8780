{{ config(materialized='view') }}
-- Whom each sales rep should call first: the customers at risk (still active, but quieter than
-- usual for them) and the inactive ones, ranked within each rep by the revenue they brought in
-- the year up to their last purchase.
with customers_to_win_back as (
    select
        as_of_date,
        -- A rep written with stray spaces is the same rep; a blank one is none.
        nullif(trim(sales_rep), '') as sales_rep,
        customer_id,
        customer_name,
        email,
        segment,
        lifecycle_stage,
        revenue_at_risk,
        last_purchase_date,
        days_since_last_purchase,
        expected_next_purchase_date,
        status_reason
    from {{ ref('customer_activity_report') }}
    where lifecycle_stage in ('at_risk', 'inactive')
),

usual_items as (
    select * from {{ ref('int_customer_usual_items') }}
)

select
    customers_to_win_back.as_of_date,
    customers_to_win_back.sales_rep,
    cast(row_number() over (
        partition by customers_to_win_back.sales_rep
        order by customers_to_win_back.revenue_at_risk desc, customers_to_win_back.customer_id asc
    ) as integer) as rank_within_rep,
    customers_to_win_back.customer_id,
    customers_to_win_back.customer_name,
    customers_to_win_back.email,
    customers_to_win_back.segment,
    customers_to_win_back.lifecycle_stage,
    customers_to_win_back.revenue_at_risk,
    customers_to_win_back.last_purchase_date,
    customers_to_win_back.days_since_last_purchase,
    customers_to_win_back.expected_next_purchase_date,
    customers_to_win_back.status_reason,
    usual_items.items_they_used_to_buy
from customers_to_win_back
left join usual_items on customers_to_win_back.customer_id = usual_items.customer_id
