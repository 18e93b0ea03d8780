{{ config(
    materialized=incremental_where_supported(),
    incremental_strategy='replace_recomputed_keys',
    unique_key='customer_key',
    meta={'recomputes': 'customers_with_changed_status_history'},
) }}
-- Each customer's part in the backtest of the inactivity flag (reports.inactivity_backtest), as
-- changes of its month-end counts: +1 from the month end on which the customer starts to count
-- in one of them, -1 from the one on which they stop. The report adds them up month by month,
-- so that it reads a few rows per customer instead of every customer on every month end.
--
-- Between a purchase date p and the next one n (none: n is open), on a day E the customer is
-- inactive from the day they became inactive, f (empty when they bought again before it), and
-- has no purchase in the `backtest_horizon_days` (H) after E while E < n - H. So they count:
--   customers          from their first purchase date on;
--   flagged            on [f, n): inactive on E;
--   flagged_silent     on [f, n - H): inactive, and no purchase in the next H days;
--   unflagged_silent   on [p, min(f, n - H)): active, and no purchase in the next H days.
-- A month end E lies in [a, b) exactly when last_day(a) <= E < last_day(b).
with purchase_dates as (
    select * from {{ ref('int_customer_purchase_dates') }}
    {% if is_incremental() -%}
        where {{ keys_this_build_recomputes() }}
    {%- endif %}
),

lapses as (
    select
        customer_key,
        inactivity_rule,
        previous_purchase_date,
        change_date as inactive_from
    from {{ ref('int_customer_status_changes') }}
    where
        change_kind = 'became_inactive'
        {% if is_incremental() -%}
            and {{ keys_this_build_recomputes() }}
        {%- endif %}
),

inactivity_rules as (
    select rules.inactivity_rule
    from {{ inactivity_rules() }}
),

gaps as (
    select
        purchase_dates.customer_key,
        inactivity_rules.inactivity_rule,
        purchase_dates.purchase_number,
        purchase_dates.purchase_date,
        purchase_dates.next_purchase_date,
        lapses.inactive_from,
        cast({{ dbt.dateadd(
            'day',
            -(var('backtest_horizon_days') | int),
            'purchase_dates.next_purchase_date'
        ) }} as date) as silent_until
    from purchase_dates
    cross join inactivity_rules
    left join lapses
        on
            purchase_dates.customer_key = lapses.customer_key
            and inactivity_rules.inactivity_rule = lapses.inactivity_rule
            and purchase_dates.purchase_date = lapses.previous_purchase_date
),

periods as (
    -- The days [starts_on, ends_before) on which the customer counts in `measure`.
    select
        customer_key,
        inactivity_rule,
        'customers' as measure,
        purchase_date as starts_on,
        cast(null as date) as ends_before
    from gaps
    where purchase_number = 1
    union all
    select
        customer_key,
        inactivity_rule,
        'flagged' as measure,
        inactive_from as starts_on,
        next_purchase_date as ends_before
    from gaps
    where inactive_from is not null
    union all
    select
        customer_key,
        inactivity_rule,
        'flagged_silent' as measure,
        inactive_from as starts_on,
        silent_until as ends_before
    from gaps
    where inactive_from is not null and (silent_until is null or inactive_from < silent_until)
    union all
    select
        customer_key,
        inactivity_rule,
        'unflagged_silent' as measure,
        purchase_date as starts_on,
        case
            when inactive_from is null then silent_until
            when silent_until is null then inactive_from
            else least(inactive_from, silent_until)
        end as ends_before
    from gaps
    where
        (inactive_from is null or purchase_date < inactive_from)
        and (silent_until is null or purchase_date < silent_until)
),

month_end_changes as (
    select
        customer_key,
        inactivity_rule,
        measure,
        cast({{ dbt.last_day('starts_on', 'month') }} as date) as month_end,
        1 as count_change
    from periods
    union all
    select
        customer_key,
        inactivity_rule,
        measure,
        cast({{ dbt.last_day('ends_before', 'month') }} as date) as month_end,
        -1 as count_change
    from periods
    where ends_before is not null
),

summed as (
    select
        customer_key,
        inactivity_rule,
        month_end,
        sum(case when measure = 'customers' then count_change else 0 end) as customers,
        sum(case when measure = 'flagged' then count_change else 0 end) as flagged,
        sum(case when measure = 'flagged_silent' then count_change else 0 end)
            as flagged_silent,
        sum(case when measure = 'unflagged_silent' then count_change else 0 end)
            as unflagged_silent
    from month_end_changes
    group by customer_key, inactivity_rule, month_end
)

select
    customer_key,
    inactivity_rule,
    month_end,
    cast(customers as integer) as customers,
    cast(flagged as integer) as flagged,
    cast(flagged_silent as integer) as flagged_silent,
    cast(unflagged_silent as integer) as unflagged_silent
from summed
-- A period that starts and ends within one month changes no month-end count.
where customers != 0 or flagged != 0 or flagged_silent != 0 or unflagged_silent != 0
