{#- The business rules that more than one model needs. Their settings are the vars in
    dbt_project.yml; the rules themselves are documented in docs/architecture.md. -#}

{#- The as-of date of the reports as a SQL date literal: the `as_of_date` var when given, else the
    AS_OF_DATE environment variable (how the Dagster step passes it: a var that changes every day
    would make dbt parse the whole project again on every run), else today.
    The variable is read only when executing: dbt notes the environment variables a model reads
    while it is parsed and parses the model again whenever their value changes, which for a date
    that moves every day would be every model on every run (over a second of each daily run). -#}
{% macro as_of_date() -%}
    date '{{ as_of_date_text() }}'
{%- endmacro %}

{#- The as-of date as text, YYYY-MM-DD (see as_of_date). -#}
{% macro as_of_date_text() -%}
    {%- set value = var('as_of_date', none) -%}
    {%- if value is none or value | string | trim == '' -%}
        {%- set value = env_var('AS_OF_DATE', '') if execute else '' -%}
    {%- endif -%}
    {%- if value | string | trim == '' -%}
        {%- set value = modules.datetime.date.today().isoformat() -%}
    {%- endif -%}
    {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', value | string | trim) -%}
        {{ exceptions.raise_compiler_error(
            "the as-of date (var as_of_date or AS_OF_DATE) must be a date written YYYY-MM-DD, "
            ~ "got '" ~ value ~ "'") }}
    {%- endif -%}
    {{ return(value | string | trim) }}
{%- endmacro %}

{#- The calendar months from January 1900 to the as-of date's, both counted: the length of the
    month series the monthly reports are laid on. -#}
{% macro months_from_1900_to_the_as_of_date() -%}
    {%- set as_of = modules.datetime.date.fromisoformat(as_of_date_text()) -%}
    {{ return((as_of.year - 1900) * 12 + as_of.month) }}
{%- endmacro %}

{#- Days of inactivity after which a customer of this billing cycle counts as inactive. -#}
{% macro inactivity_threshold_days(billing_cycle) -%}
    {%- set thresholds = var('inactivity_threshold_days') -%}
    case {{ billing_cycle }}
    {%- for cycle, days in thresholds.items() if cycle != 'unspecified' %}
        when '{{ cycle }}' then {{ days | int }}
    {%- endfor %}
        else {{ thresholds['unspecified'] | int }}
    end
{%- endmacro %}

{#- The threshold fitted to a customer's rhythm (the `adaptive` rule), given the threshold of
    their billing cycle, their purchase dates so far and the median of the days between them:
    the billing cycle's threshold below `adaptive_min_purchases` purchase dates; else
    `adaptive_multiplier` times the usual days between purchases, rounded up, at least
    `adaptive_floor_days` and at most the billing cycle's threshold. -#}
{% macro adaptive_threshold_days(billing_cycle_threshold, purchase_dates, usual_days_between) -%}
    case
        when {{ purchase_dates }} >= {{ var('adaptive_min_purchases') | int }}
            then least(
                {{ billing_cycle_threshold }},
                greatest(
                    {{ var('adaptive_floor_days') | int }},
                    cast(ceil({{ var('adaptive_multiplier') | float }} * {{ usual_days_between }})
                        as integer)
                )
            )
        else {{ billing_cycle_threshold }}
    end
{%- endmacro %}

{#- The inactivity rule chosen (var inactivity_rule): `billing_cycle` or `adaptive`. -#}
{% macro inactivity_rule() -%}
    {%- set rule = var('inactivity_rule') -%}
    {%- if rule not in inactivity_rule_names() -%}
        {{ exceptions.raise_compiler_error(
            "var inactivity_rule must be billing_cycle or adaptive, got '" ~ rule ~ "'") }}
    {%- endif -%}
    {{ return(rule) }}
{%- endmacro %}

{#- Both inactivity rules: the status history and the backtest keep both, so that choosing the
    other rule takes one run. -#}
{% macro inactivity_rule_names() -%}
    {{ return(['billing_cycle', 'adaptive']) }}
{%- endmacro %}

{#- The rules as a relation of one column, `inactivity_rule`, to cross with per-customer rows. -#}
{% macro inactivity_rules() -%}
    (values
    {%- for rule in inactivity_rule_names() %} ('{{ rule }}'){{ "," if not loop.last }}
    {%- endfor %}) as rules (inactivity_rule)
{%- endmacro %}

{#- Which rule sets a customer's threshold: `adaptive` when that rule is chosen and the customer
    has enough purchase dates for it, else `billing_cycle`. -#}
{% macro threshold_rule(purchase_dates) -%}
    {%- if inactivity_rule() == 'adaptive' -%}
        case
            when {{ purchase_dates }} >= {{ var('adaptive_min_purchases') | int }}
                then 'adaptive'
            else 'billing_cycle'
        end
    {%- else -%}
        'billing_cycle'
    {%- endif -%}
{%- endmacro %}

{#- A customer's inactivity threshold in days under the rule chosen. -#}
{% macro customer_threshold_days(billing_cycle, purchase_dates, usual_days_between) -%}
    {%- if inactivity_rule() == 'adaptive' -%}
        {{ adaptive_threshold_days(
            inactivity_threshold_days(billing_cycle), purchase_dates, usual_days_between
        ) }}
    {%- else -%}
        {{ inactivity_threshold_days(billing_cycle) }}
    {%- endif -%}
{%- endmacro %}

{#- True for the order types whose orders can be purchases. -#}
{% macro is_purchase_order_type(order_type) -%}
    {{ order_type }} in (
    {%- for order_type_name in var('purchase_order_types') -%}
        '{{ order_type_name }}'{{ ", " if not loop.last }}
    {%- endfor -%}
    )
{%- endmacro %}

{#- A purchase: an order of a purchase type whose net amount is above zero. Other orders still
    count in net revenue. -#}
{% macro is_purchase_order(order_type, net_amount) -%}
    {{ is_purchase_order_type(order_type) }} and {{ net_amount }} > 0
{%- endmacro %}

{#- An order line is visible to a report when it is dated on or before the as-of date. -#}
{% macro is_visible(order_date) -%}
    {{ order_date }} <= {{ as_of_date() }}
{%- endmacro %}

{#- An extract file counts for a report when it was extracted by the as-of date: the date in its
    name (the last `YYYY-MM-DD` in it) is on or before the as-of date. So a report for a past date
    (a backfill) sees the files a run on that day would have seen, and the versions of orders and
    master data they held. A file with no date in its name always counts: its earlier contents
    are not kept, so its current contents are the best answer for any date. -#}
{% macro is_extracted_by_as_of_date(source_file) -%}
    coalesce({{ extract_file_date(source_file) }} <= {{ as_of_date() }}, true)
{%- endmacro %}

{#- The date an extract file was extracted: the last `YYYY-MM-DD` in its name; NULL without one. -#}
{% macro extract_file_date(source_file) -%}
    try_cast(regexp_extract({{ source_file }}, '^.*([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) as date)
{%- endmacro %}

{#- Latest extract wins for master data: of the rows sharing `key`, the one from the file whose
    name sorts last, and within that file the last row: ranked 1 by this window
    expression (the staging models keep the rows it ranks 1). -#}
{% macro master_row_rank(key) -%}
    row_number() over (partition by {{ key }} order by _source_file desc, _source_line desc)
{%- endmacro %}

{#- The trailing revenue window: the as-of date and the days before it, var
    recent_revenue_window_days in all. -#}
{% macro is_within_recent_revenue_window(order_date) -%}
    {%- set days = var('recent_revenue_window_days') | int -%}
    {{ order_date }} > cast({{ dbt.dateadd('day', -days, as_of_date()) }} as date)
{%- endmacro %}

{#- A customer's status at the as-of date: never_purchased without any purchase; inactive when
    the days since the last purchase exceed the threshold of their billing cycle; active
    otherwise. Computed when the reports are read, since it moves with the date. -#}
{% macro activity_status(last_purchase_date, days_since_last_purchase, threshold_days) -%}
    case
        when {{ last_purchase_date }} is null then 'never_purchased'
        when {{ days_since_last_purchase }} > {{ threshold_days }} then 'inactive'
        else 'active'
    end
{%- endmacro %}

{#- Where a customer stands: never_purchased, inactive (as activity_status), at_risk (active, with
    the days since the last purchase past `at_risk_share` of the threshold), or active. -#}
{% macro lifecycle_stage(last_purchase_date, days_since_last_purchase, threshold_days) -%}
    case
        when {{ last_purchase_date }} is null then 'never_purchased'
        when {{ days_since_last_purchase }} > {{ threshold_days }} then 'inactive'
        when {{ days_since_last_purchase }} > {{ var('at_risk_share') | float }} * {{ threshold_days }}
            then 'at_risk'
        else 'active'
    end
{%- endmacro %}

{#- An item's status in a customer's buying: `occasional` below `regular_item_min_purchases`
    purchase dates; `lapsed` once the days since its last purchase pass `adaptive_multiplier`
    times its usual days between purchases; `regular` otherwise. -#}
{% macro item_status(purchase_dates, usual_days_between, days_since_last_purchase) -%}
    case
        when {{ purchase_dates }} < {{ var('regular_item_min_purchases') | int }} then 'occasional'
        when {{ days_since_last_purchase }}
            > {{ var('adaptive_multiplier') | float }} * {{ usual_days_between }} then 'lapsed'
        else 'regular'
    end
{%- endmacro %}

{#- The first day on which the days since the last purchase exceeded the threshold; empty unless
    the customer is inactive. -#}
{% macro inactive_since(last_purchase_date, days_since_last_purchase, threshold_days) -%}
    case
        when {{ days_since_last_purchase }} > {{ threshold_days }}
            then cast({{ dbt.dateadd('day', threshold_days ~ ' + 1', last_purchase_date) }} as date)
    end
{%- endmacro %}

{#- A sum of amounts rounded to cents, as DECIMAL(38, 2). Lines are DECIMAL(18, 4) (at most 14
    digits before the point, the extract contract) and their sums DECIMAL(38, 4): no customer's
    total can overflow 34 digits. Sums that fit 18 digits, all but extreme ones, are narrowed
    first and rounded there: rounding the 38-digit value costs about thirty times more (seconds
    on every read of the customer x item report at tens of millions of rows). -#}
{% macro rounded_to_cents(amount_sum) -%}
    case
        when {{ amount_sum }} between -99999999999999.9999 and 99999999999999.9999
            then cast(cast({{ amount_sum }} as decimal(18, 4)) as decimal(18, 2))
        else cast({{ amount_sum }} as decimal(38, 2))
    end
{%- endmacro %}
