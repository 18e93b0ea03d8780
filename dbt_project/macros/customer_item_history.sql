{#- The customer x item history, for the customers that `customer_filter` keeps (a condition on
    `customer_key`): each customer's history with each item up to the as-of date, one row per
    customer and item on a visible order line. Purchase dates and counts come from purchase
    orders only; quantity and revenue from every visible line, credits included.

    A full build computes it for every customer (int_customer_item_history_base); a daily build
    only for the customers of the new files' orders (int_customer_item_history_recomputed, with
    customer_item_history_of_new_orders_customers_sql below), whose rows then replace theirs in
    int_customer_item_history and in the published copy. -#}
{% macro customer_item_history_sql(customer_filter) -%}
with visible_lines as (
    select * from {{ ref('int_order_lines_current') }}
    where
        {{ is_visible('order_date') }}
        and {{ customer_filter }}
),

orders as (
    select * from {{ ref('int_orders') }}
    where {{ customer_filter }}
),

{{ customer_item_rows_sql() }}
{%- endmacro %}


{#- The customer x item history of the customers of the new files' orders
    (int_orders_to_recompute), as customer_item_history_sql computes it, from their order lines
    alone: the order facts are aggregated again from the lines read anyway (by the rules of
    int_orders), and the customers' ids come from int_orders_to_recompute. The day's customers'
    orders are scattered over the whole history: reading them from int_orders too cost 0.6 s
    of 1.6 s at 30M lines (in a new process, DuckDB loads every block it touches). A full build
    joins int_orders instead, which is faster for every customer than grouping the lines by
    order with their customer ids. -#}
{% macro customer_item_history_of_new_orders_customers_sql() -%}
with customers as (
    {{ customer_ids_by_key(ref('int_orders_to_recompute')) }}
),

visible_lines as (
    select * from {{ ref('int_order_lines_current') }}
    where
        {{ is_visible('order_date') }}
        and customer_key in ({{ customers_of_orders_in_new_files_sql() }})
),

order_facts as (
    -- By order number, which identifies an order among the lines as its id does, from a small
    -- integer column rather than the ids' text (int_order_lines_current).
    select
        order_number,
        {{ order_facts_from_lines() }}
    from visible_lines
    group by order_number
),

orders as (
    select
        order_facts.order_number,
        customers.customer_id,
        order_facts.customer_key,
        order_facts.order_date,
        {{ is_purchase_order('order_facts.order_type', 'order_facts.net_amount') }} as is_purchase
    from order_facts
    inner join customers on order_facts.customer_key = customers.customer_key
),

{{ customer_item_rows_sql('order_number') }}
{%- endmacro %}


{#- The end of both: the rows, from the CTEs `visible_lines` (order lines) and `orders` (customer_id,
    customer_key, order_date, is_purchase, and `order_column`, which identifies the order in both:
    `order_id`, or the lines' `order_number`). -#}
{% macro customer_item_rows_sql(order_column='order_id') -%}
order_items as (
    -- One row per order and item (an order may list an item on several lines), so that
    -- purchases are counted per order without a distinct count per customer and item. The
    -- customer comes from the order: a text column of the lines fewer to read.
    select
        {{ order_column }},
        item_id,
        sum(quantity) as quantity,
        sum(amount) as amount
    from visible_lines
    group by {{ order_column }}, item_id
)

select
    orders.customer_id,
    orders.customer_key,
    order_items.item_id,
    min(orders.order_date) filter (where orders.is_purchase) as first_purchase_date,
    max(orders.order_date) filter (where orders.is_purchase) as last_purchase_date,
    count(*) filter (where orders.is_purchase) as purchase_count,
    sum(order_items.quantity) as total_quantity,
    sum(order_items.amount) as net_revenue
from order_items
inner join orders on order_items.{{ order_column }} = orders.{{ order_column }}
group by orders.customer_id, orders.customer_key, order_items.item_id
{%- endmacro %}


{#- The columns of the customer x item history, in order. -#}
{% macro customer_item_history_columns() -%}
    {{ return([
        'customer_id', 'customer_key', 'item_id', 'first_purchase_date', 'last_purchase_date',
        'purchase_count', 'total_quantity', 'net_revenue',
    ]) }}
{%- endmacro %}

{#- int_customer_item_history_recent as the previous build left it (int_customer_item_history_base
    reads it before that model takes the day's customers); none before there is one. -#}
{% macro customer_item_history_recent_relation() -%}
    {{ return(relation_beside_this('int_customer_item_history_recent')) }}
{%- endmacro %}

{#- What this build does to int_customer_item_history_base:
    - `rebuild`: compute every customer, as on any build that recomputes everything (see
      macros/incremental.sql), or when there is no int_customer_item_history_recent to go with it;
    - `absorb`: a daily build whose recent rows left by earlier builds are more than
      var('recent_customer_item_history_share') of this table's rows: they replace their
      customers' rows here (and int_customer_item_history_recent then starts again from the day's
      customers);
    - `keep`: any other daily build, which leaves the table as it is. -#}
{% macro customer_item_history_base_way() -%}
    {%- if not (is_incremental() and incremental_run_is_safe()) -%}
        {{ return('rebuild') }}
    {%- endif -%}
    {%- set recent = customer_item_history_recent_relation() -%}
    {%- if recent is none -%}
        {{ return('rebuild') }}
    {%- endif -%}
    {%- set share = var('recent_customer_item_history_share') | float -%}
    {%- set query -%}
        select
            (select count(*) from {{ recent }} where build_number < {{ this_build_number() }})
            > {{ share }} * (select count(*) from {{ this }})
    {%- endset -%}
    {{ return('absorb' if run_query(query).columns[0].values()[0] else 'keep') }}
{%- endmacro %}

{#- The pre-hook of int_customer_item_history_base: remove the rows this build replaces. -#}
{% macro customer_item_history_base_pre_hook() -%}
    {%- set way = customer_item_history_base_way() -%}
    {%- if way == 'absorb' -%}
        delete from {{ this }}
        where customer_key in (
            select customer_key from {{ customer_item_history_recent_relation() }}
        )
    {%- elif way == 'rebuild' and is_incremental() -%}
        delete from {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- The pre-hook of int_customer_item_history_recent: remove the rows of the customers this build
    recomputes; all of them when the base was rebuilt or took them in during this build (its
    newest rows are this build's), or when the build recomputes everything. -#}
{% macro customer_item_history_recent_pre_hook() -%}
    {%- if not is_incremental() -%}
        select 1
    {%- elif not incremental_run_is_safe() -%}
        delete from {{ this }}
    {%- else -%}
        {%- set base_changed = run_query(
            "select coalesce(max(build_number), 0) >= " ~ this_build_number()
            ~ " from " ~ ref('int_customer_item_history_base')
        ).columns[0].values()[0] -%}
        {%- if base_changed -%}
            delete from {{ this }}
        {%- else -%}
            delete from {{ this }}
            where customer_key in ({{ customers_of_orders_in_new_files_sql() }})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
