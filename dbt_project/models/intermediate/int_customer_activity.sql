-- Every customer, from the customer master and from visible orders, with their activity status
-- at the as-of date. The inactivity rule:
--   never_purchased  no purchase at all;
--   inactive         days since the last purchase > the billing cycle's threshold;
--   active           otherwise.
-- A customer found only in orders has no master data (name empty) and no billing cycle.
with customer_master as (
    select * from {{ ref('stg_customers') }}
),

purchase_history as (
    select * from {{ ref('int_customer_purchase_history') }}
),

all_customers as (
    select customer_id from customer_master
    union
    select customer_id from purchase_history
),

customers as (
    select
        -- The date the statuses are computed for: the reports read it from here, so that a
        -- report is always consistent with the version of this table it reads.
        {{ as_of_date() }} as as_of_date,
        all_customers.customer_id,
        customer_master.customer_name,
        customer_master.email,
        customer_master.sales_rep,
        customer_master.segment,
        customer_master.billing_cycle,
        {{ inactivity_threshold_days('customer_master.billing_cycle') }}
            as inactivity_threshold_days,
        purchase_history.first_purchase_date,
        purchase_history.last_purchase_date,
        date_diff('day', purchase_history.last_purchase_date, {{ as_of_date() }})
            as days_since_last_purchase,
        coalesce(purchase_history.purchase_count, 0) as purchase_count,
        coalesce(purchase_history.lifetime_net_revenue, 0) as lifetime_net_revenue,
        coalesce(purchase_history.revenue_last_365_days, 0) as revenue_last_365_days
    from all_customers
    left join customer_master on all_customers.customer_id = customer_master.customer_id
    left join purchase_history on all_customers.customer_id = purchase_history.customer_id
)

select
    *,
    case
        when last_purchase_date is null then 'never_purchased'
        when days_since_last_purchase > inactivity_threshold_days then 'inactive'
        else 'active'
    end as activity_status,
    -- The first day on which days_since_last_purchase exceeded the threshold.
    case
        when days_since_last_purchase > inactivity_threshold_days
            then last_purchase_date + (inactivity_threshold_days + 1)
    end as inactive_since,
    case
        when purchase_count >= 2
            then date_diff('day', first_purchase_date, last_purchase_date) / (purchase_count - 1)
    end as avg_days_between_purchases
from customers
-- Stored in customer order, which the report view (and the files written from it) keeps
-- without sorting on every read.
order by customer_id
