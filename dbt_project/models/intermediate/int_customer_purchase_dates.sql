{{ config(
    materialized=incremental_where_supported(),
    incremental_strategy='replace_recomputed_keys',
    unique_key='customer_key',
    meta={'recomputes': 'customers_of_new_orders'},
) }}
-- Each customer's purchase dates up to the as-of date (the distinct dates of their purchases),
-- with the days since the one before and the usual days between purchases so far: each
-- customer's rhythm, from which the status history and the adaptive threshold are derived.
with purchases as (
    select distinct
        customer_key,
        order_date as purchase_date
    from {{ ref('int_orders') }}
    where
        is_purchase
        {% if is_incremental() -%}
            and {{ keys_this_build_recomputes() }}
        {%- endif %}
),

numbered as (
    select
        customer_key,
        purchase_date,
        row_number() over customer_dates as purchase_number,
        lead(purchase_date) over customer_dates as next_purchase_date,
        {{ dbt.datediff(
            'lag(purchase_date) over customer_dates', 'purchase_date', 'day'
        ) }} as days_since_previous_purchase
    from purchases
    window customer_dates as (partition by customer_key order by purchase_date)
)

select
    customer_key,
    purchase_date,
    cast(purchase_number as integer) as purchase_number,
    next_purchase_date,
    cast(days_since_previous_purchase as integer) as days_since_previous_purchase,
    -- The median of the days between the purchase dates up to this one (empty for the first).
    {{ median_so_far('days_since_previous_purchase', 'customer_key', 'purchase_date') }}
        as usual_days_between_purchases
from numbered
