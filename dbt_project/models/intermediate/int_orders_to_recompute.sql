-- depends_on: {{ source('raw', 'load_ledger') }}
-- The orders that this build of the incremental models recomputes (see macros/incremental.sql):
-- those with lines in the orders extract files loaded since their last build, with every
-- customer that any version of them names (an order may move to another customer). Worked out
-- once per build, before those models change anything, rather than at each of their uses.
with new_order_lines as (
    -- New files' rows are the last loaded: the load-time filter lets DuckDB skip the rest of
    -- the history without reading it.
    select order_id from {{ source('raw', 'orders') }}
    where
        _loaded_at >= {{ first_load_of_new_order_files() }}
        and _source_file in ({{ new_order_files_sql() }})
)

select
    order_id,
    customer_id,
    {{ customer_key('customer_id') }} as customer_key
from {{ source('raw', 'orders') }}
where order_id in (select new_order_lines.order_id from new_order_lines)
group by order_id, customer_id
