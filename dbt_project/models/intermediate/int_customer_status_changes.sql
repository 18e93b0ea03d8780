{{ config(
    materialized=incremental_where_supported(),
    incremental_strategy='replace_recomputed_keys',
    unique_key='customer_key',
    meta={'recomputes': 'customers_with_changed_status_history'},
) }}
-- Each customer's changes of status, under both inactivity rules (`inactivity_rule`), derived
-- from their purchase dates alone: a first purchase, then, after each purchase date p, inactive
-- from p + T + 1 unless the next purchase comes before (T: the threshold at that gap), and
-- reactivated by the next purchase after that day. The thresholds are today's: the current
-- billing cycle applies to the whole past. Changes dated after the as-of date are kept, since
-- they happen unless a purchase comes first (a new purchase recomputes the customer): the report
-- shows those up to the as-of date, so nothing stored moves with the date.
with purchase_dates as (
    select * from {{ ref('int_customer_purchase_dates') }}
    {% if is_incremental() -%}
        where {{ keys_this_build_recomputes() }}
    {%- endif %}
),

customers as (
    select * from {{ ref('int_customer_activity') }}
    {% if is_incremental() -%}
        where {{ keys_this_build_recomputes() }}
    {%- endif %}
),

thresholds as (
    select
        purchase_dates.customer_key,
        customers.customer_id,
        purchase_dates.purchase_date,
        purchase_dates.purchase_number,
        purchase_dates.next_purchase_date,
        {{ inactivity_threshold_days('customers.billing_cycle') }} as billing_cycle_threshold_days,
        -- The adaptive threshold at this gap knows the purchases up to this date alone.
        {{ adaptive_threshold_days(
            inactivity_threshold_days('customers.billing_cycle'),
            'purchase_dates.purchase_number',
            'purchase_dates.usual_days_between_purchases'
        ) }} as adaptive_threshold_days
    from purchase_dates
    inner join customers on purchase_dates.customer_key = customers.customer_key
),

inactivity_rules as (
    select rules.inactivity_rule
    from {{ inactivity_rules() }}
),

gaps as (
    -- Each purchase date under each rule, with the day the customer becomes inactive after it.
    select
        thresholds.customer_key,
        thresholds.customer_id,
        inactivity_rules.inactivity_rule,
        thresholds.purchase_date,
        thresholds.purchase_number,
        thresholds.next_purchase_date,
        cast({{ dbt.dateadd(
            'day',
            "case inactivity_rules.inactivity_rule when 'adaptive' "
            ~ "then thresholds.adaptive_threshold_days "
            ~ "else thresholds.billing_cycle_threshold_days end + 1",
            'thresholds.purchase_date'
        ) }} as date) as inactive_from
    from thresholds
    cross join inactivity_rules
)

select
    customer_key,
    customer_id,
    inactivity_rule,
    purchase_date as change_date,
    'first_purchase' as change_kind,
    cast(null as integer) as days_inactive,
    cast(null as date) as previous_purchase_date
from gaps
where purchase_number = 1
union all
select
    customer_key,
    customer_id,
    inactivity_rule,
    inactive_from as change_date,
    'became_inactive' as change_kind,
    cast(null as integer) as days_inactive,
    purchase_date as previous_purchase_date
from gaps
where next_purchase_date is null or next_purchase_date > inactive_from
union all
select
    customer_key,
    customer_id,
    inactivity_rule,
    next_purchase_date as change_date,
    'reactivated' as change_kind,
    cast({{ dbt.datediff('inactive_from', 'next_purchase_date', 'day') }} as integer)
        as days_inactive,
    purchase_date as previous_purchase_date
from gaps
where next_purchase_date > inactive_from
