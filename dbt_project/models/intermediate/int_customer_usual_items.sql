{{ config(
    materialized=incremental_where_supported(),
    incremental_strategy='replace_recomputed_keys',
    unique_key='customer_key',
    meta={'recomputes': 'customers_with_changed_usual_items'},
) }}
-- What the call list says each customer used to buy: the items they spent most on (var
-- call_list_items: five; by net revenue, then item id) among those bought on a purchase order,
-- named from the item master, most first, separated by '; '. Kept from one build to the next,
-- so that the call list does not rank and name every customer's items again each day.
with item_history as (
    select * from {{ ref('int_customer_item_history') }}
    {% if is_incremental() -%}
        where {{ keys_this_build_recomputes() }}
    {%- endif %}
),

ranked_items as (
    select
        customer_id,
        customer_key,
        item_id,
        row_number() over (
            partition by customer_key order by net_revenue desc, item_id asc
        ) as revenue_rank
    from item_history
    where purchase_count > 0
),

top_items as (
    select
        ranked_items.customer_id,
        ranked_items.customer_key,
        ranked_items.revenue_rank,
        -- An item the master lacks is named by its id.
        coalesce(items.item_name, ranked_items.item_id) as item_name
    from ranked_items
    left join {{ ref('stg_items') }} as items on ranked_items.item_id = items.item_id
    where ranked_items.revenue_rank <= {{ var('call_list_items') | int }}
)

select
    customer_id,
    customer_key,
    -- In rank order. One value per rank rather than an ordered aggregate, which sorts within
    -- every group.
    concat_ws(
        '; '
        {%- for rank in range(1, var('call_list_items') | int + 1) %},
        max(case when revenue_rank = {{ rank }} then item_name end)
        {%- endfor %}
    ) as items_they_used_to_buy
from top_items
group by customer_id, customer_key
