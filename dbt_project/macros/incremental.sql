{#- Incremental builds of the order-level models.

    `int_order_lines_current`, `int_orders`, `int_customer_item_history` and
    `int_customer_top_items` keep what earlier builds computed and recompute only what the
    orders extract files that are new since the last build touch: their orders (and, for the
    customer-level models, every customer any version of those orders names), as listed once
    per build by `int_orders_to_recompute`. `int_customer_item_history_changes` logs those
    customers for the published copy. A daily run then costs in proportion to the new day's
    lines, not to the history.

    That is right only when nothing in the history depends on the as-of date, so a build
    recomputes everything (deleting what the model held, then inserting it all again) unless
      - this build sees everything: no orders extract dated after the as-of date and no order
        line dated after it (true of a daily run; not of a backfill);
      - the previous build saw everything too (it was not a backfill);
      - every orders file the previous build read is unchanged (a file replaced under the same
        name may have dropped orders, which only a full build removes);
      - the business settings these models apply are those of the previous build.
    `int_order_files_built` records, after those models, which files they have absorbed, and
    the as-of date and business settings of that build.

    The one figure that moves with the date, a customer's revenue over the trailing window
    (int_customer_purchase_history), is recomputed for the customers of the new orders and
    for those with an order that the window has left since the previous build's as-of date.

    Customers are selected by `customer_key`, a 64-bit number derived from the customer id
    (see `customer_key`): at tens of millions of rows, comparing numbers costs a seventh of
    comparing the text ids. -#}

{#- A customer's key: the low 64 bits of the MD5 of the id, the same in every DuckDB version
    (a key is stored by one build and compared by the next). Two ids may share a key: rows are
    deleted and recomputed by key, never by id, so such customers are just recomputed together. -#}
{% macro customer_key(customer_id) -%}
    md5_number_lower({{ customer_id }})
{%- endmacro %}

{#- The settings the incremental models apply, as text: a build with other settings than the
    previous one recomputes everything. -#}
{% macro incremental_business_settings() -%}
    {{ return(tojson({
        'purchase_order_types': var('purchase_order_types'),
        'recent_revenue_window_days': var('recent_revenue_window_days'),
    }, sort_keys=true)) }}
{%- endmacro %}

{%- macro order_files_built() -%}
    {#- None where there is none yet, or no model to place it by (a unit test), or where an
        earlier version wrote it without the as-of date and settings that this one compares:
        a build recomputes everything then, as on a first build. -#}
    {%- if not execute or this is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set built = adapter.get_relation(
        database=this.database, schema=this.schema, identifier='int_order_files_built') -%}
    {%- if built is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set recorded = adapter.get_columns_in_relation(built) | map(attribute='name') | list -%}
    {{ return(built if 'as_of_date' in recorded and 'business_settings' in recorded else none) }}
{%- endmacro %}

{#- True when the build at the as-of date sees every order line and every orders extract. -#}
{% macro sees_everything_sql() -%}
    (
        (select coalesce(max(order_date) <= {{ as_of_date() }}, true)
         from {{ source('raw', 'orders') }})
        and not exists (
            select 1 from {{ source('raw', 'load_ledger') }}
            where entity = 'orders' and not {{ is_extracted_by_as_of_date('source_file') }}
        )
    )
{%- endmacro %}

{#- True when this model may recompute only the orders of new files (see above); or, given
    `for_model`, when that incremental model may, for a model that prepares its build. -#}
{% macro incremental_run_is_safe(for_model=none) %}
    {%- if not execute -%}
        {{ return(false) }}
    {%- elif for_model is none and not is_incremental() -%}
        {{ return(false) }}
    {%- elif for_model is not none and (flags.FULL_REFRESH or adapter.get_relation(
            database=this.database, schema=this.schema, identifier=for_model) is none) -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set built = order_files_built() -%}
    {%- if built is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set query -%}
        select
            coalesce((select bool_and(sees_everything) from {{ built }}), false)
            and (
                select count(*) = 0
                from {{ built }}
                where business_settings is distinct from '{{ incremental_business_settings() }}'
            )
            and {{ sees_everything_sql() }}
            and not exists (
                select 1
                from {{ built }} as built
                left join {{ source('raw', 'load_ledger') }} as ledger
                    on ledger.entity = 'orders' and ledger.source_file = built.source_file
                where ledger.content_sha256 is distinct from built.content_sha256
            )
    {%- endset -%}
    {{ return(run_query(query).columns[0].values()[0]) }}
{% endmacro %}

{#- The orders extract files loaded since the last build of the incremental models. -#}
{% macro new_order_files_sql() -%}
    {#- None before the first build, which recomputes everything anyway. -#}
    {%- set built = order_files_built() -%}
    {%- if built is none -%}
        select null::varchar as source_file where false
    {%- else -%}
        select source_file from {{ source('raw', 'load_ledger') }}
        where entity = 'orders'
          and source_file not in (select source_file from {{ built }})
    {%- endif -%}
{%- endmacro %}

{#- When the first of those files was loaded, as a literal (a constant filter on the load time
    lets DuckDB skip the row groups of older loads). -#}
{% macro first_load_of_new_order_files() -%}
    {%- if not execute -%}
        {{ return("timestamptz '1970-01-01 00:00:00+00'") }}
    {%- endif -%}
    {%- set first = run_query(
        "select coalesce(min(loaded_at), timestamptz '9999-12-31 00:00:00+00')::varchar from "
        ~ source('raw', 'load_ledger') ~ " where source_file in (" ~ new_order_files_sql() ~ ")"
    ).columns[0].values()[0] -%}
    {{ return("timestamptz '" ~ first ~ "'") }}
{%- endmacro %}

{#- The orders with lines in those files, and the customers any version of them names, as
    worked out once per build by int_orders_to_recompute. -#}
{% macro orders_in_new_files_sql() -%}
    select order_id from {{ ref('int_orders_to_recompute') }}
{%- endmacro %}

{% macro customers_of_orders_in_new_files_sql() -%}
    select customer_key from {{ ref('int_orders_to_recompute') }}
{%- endmacro %}

{#- The as-of date of the previous build, as a literal (the as-of date where there is none). -#}
{% macro previous_build_as_of_date() -%}
    {%- set built = order_files_built() -%}
    {%- if not execute or built is none -%}
        {{ return(as_of_date()) }}
    {%- endif -%}
    {%- set previous = run_query(
        "select max(as_of_date)::varchar from " ~ built
    ).columns[0].values()[0] -%}
    {{ return(as_of_date() if previous is none else "date '" ~ previous ~ "'") }}
{%- endmacro %}

{#- The customers whose revenue over the trailing window the build recomputes: those of the
    new files' orders, and those with an order dated in the days that left the window (or came
    back into it) between the previous build's as-of date and this one's. -#}
{% macro customers_to_refresh_sql() -%}
    {%- set window_days = var('recent_revenue_window_days') | int -%}
    {%- set previous = previous_build_as_of_date() -%}
    {{ customers_of_orders_in_new_files_sql() }}
    union
    select customer_key from {{ ref('int_orders') }}
    where
        order_date > least({{ previous }}, {{ as_of_date() }}) - {{ window_days }}
        and order_date <= greatest({{ previous }}, {{ as_of_date() }}) - {{ window_days }}
{%- endmacro %}

{#- The model's filter: only the keys to recompute on a safe incremental build, else all. -#}
{% macro only_keys_to_rebuild(column, keys_sql) -%}
    {%- if is_incremental() and incremental_run_is_safe() -%}
        {{ column }} in ({{ keys_sql }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The model's pre-hook: delete the rows that the build recomputes (all of them unless safe),
    so that keys with nothing left to insert (an order dropped, a customer's last order moved)
    go too. -#}
{% macro delete_rows_to_rebuild(column, keys_sql) -%}
    {%- if not is_incremental() -%}
        select 1
    {%- elif incremental_run_is_safe() -%}
        delete from {{ this }} where {{ column }} in ({{ keys_sql }})
    {%- else -%}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- The pre-hook of int_customer_item_history_changes: the changes of all but the last builds
    are forgotten. A published copy older than those is rewritten whole. -#}
{% macro forget_old_history_changes(builds_kept=60) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where build_number <= (select max(build_number) from {{ this }}) - {{ builds_kept }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
