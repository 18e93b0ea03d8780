{#- Incremental builds.

    `int_order_lines_current`, `int_orders`, the customer x item history and
    `int_customer_top_items` keep what earlier builds computed and recompute only what the
    orders extract files that are new since the last build touch: their orders (and, for the
    customer-level models, every customer any version of those orders names), as listed once
    per build by `int_orders_to_recompute`. The customer x item rows of those customers go to
    `int_customer_item_history_recent`, not into `int_customer_item_history_base`, which a
    daily build leaves alone until the recent rows grow past a share of it (macros/
    customer_item_history.sql). `int_customer_purchase_history` and
    `int_customer_activity` recompute the customers that `int_customers_to_recompute` lists:
    those of the new orders, those whose trailing revenue moved with the date, and (for the
    activity, which carries the master data) those of customer extract files new since the
    last build. `int_customer_usual_items` names again the top items of the customers whose
    top items were re-ranked, and of those with a top item in an item extract new since the
    last build. `int_customer_item_history_changes` logs the customers whose history a build
    replaced, for the published copy. A daily run then costs in proportion to the new day's
    lines, not to the history.

    That is right only when nothing in the history depends on the as-of date, so a build
    recomputes everything (deleting what the model held, then inserting it all again) unless
      - this build sees everything: no orders extract dated after the as-of date and no order
        line dated after it (true of a daily run; not of a backfill);
      - the previous build saw everything too (it was not a backfill);
      - its as-of date is not before the previous build's (a backfill to a date before a
        customer or item extract that counted then must not keep that extract's master data);
      - every orders file the previous build read is unchanged (a file replaced under the same
        name may have dropped orders, which only a full build removes);
      - the business settings these models apply are those of the previous build;
    and `int_customer_activity` recomputes every customer too when a customer extract file the
    previous build read has changed (a file replaced under the same name may have dropped
    customers). `int_extract_files_built` records, after those models, which extract files they
    have absorbed, and the as-of date and business settings of that build.

    The one figure that moves with the date, a customer's revenue over the trailing window
    (int_customer_purchase_history), is recomputed for the customers of the new orders and
    for those with an order that the window has left since the previous build's as-of date.

    Customers are selected by `customer_key`, a 64-bit number derived from the customer id
    (see `customer_key`): at tens of millions of rows, comparing numbers costs a seventh of
    comparing the text ids. The models that read a daily build's customers' orders or lines group
    them by key alone, and take the ids from the list of customers to recompute: the id's text,
    read for every order of those customers, cost half of int_customer_purchase_history.
    `int_customer_activity`, which reads the customer master (which has no key), selects and
    replaces its rows by id. -#}

{#- A customer's key: the low 64 bits of the MD5 of the id, the same in every DuckDB version
    (a key is stored by one build and compared by the next). Keys are unique: two customer ids
    sharing one (a chance of about one in forty million at a million customers) would mix their
    rows, so the build stops instead: in `customer_ids_by_key`, naming both ids, when both are
    among the customers recomputed, else in the `unique` test on int_customer_activity's keys. -#}
{% macro customer_key(customer_id) -%}
    md5_number_lower({{ customer_id }})
{%- endmacro %}

{#- The customer id of each key that `relation` lists (it has `customer_id` and
    `customer_key`), for a model that groups a daily build's orders or lines by key alone. -#}
{% macro customer_ids_by_key(relation) -%}
    select
        customer_key,
        case
            when min(customer_id) = max(customer_id) then min(customer_id)
            else error(
                'customers ' || min(customer_id) || ' and ' || max(customer_id)
                || ' have the same customer_key'
            )
        end as customer_id
    from {{ relation }}
    group by customer_key
{%- endmacro %}

{#- The settings the incremental models apply, as text: a build with other settings than the
    previous one recomputes everything. So does a build on a warehouse whose tables an earlier
    version laid out otherwise (`storage_layout`, raised when a stored column is added that
    every row must hold: 2, the order lines' `order_number`), or may hold rows that the load
    now quarantines (3: the lines of an order naming two customers in one file, which an
    earlier version stored before its build stopped on them). -#}
{% macro incremental_business_settings() -%}
    {{ return(tojson({
        'purchase_order_types': var('purchase_order_types'),
        'recent_revenue_window_days': var('recent_revenue_window_days'),
        'call_list_items': var('call_list_items'),
        'storage_layout': 3,
    }, sort_keys=true)) }}
{%- endmacro %}

{#- For int_order_lines_current: the highest order number its rows hold, as a SQL expression
    (0 when it has none, or no such column yet: a warehouse laid out before recomputes every
    order, see `storage_layout` above). -#}
{% macro last_stored_order_number() -%}
    {%- if not is_incremental() -%}
        {{ return('0') }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- if 'order_number' not in columns -%}
        {{ return('0') }}
    {%- endif -%}
    {{ return('(select coalesce(max(order_number), 0) from ' ~ this ~ ')') }}
{%- endmacro %}

{#- The relation `identifier` in the schema of the model being built, as the warehouse holds it
    now; none when there is none, or no model to place it by (a unit test, parsing). -#}
{% macro relation_beside_this(identifier) -%}
    {%- if not execute or this is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(
        database=this.database, schema=this.schema, identifier=identifier)) }}
{%- endmacro %}

{#- The record of the last build (int_extract_files_built). None where there is none yet, or no
    model to place it by (a unit test), or where an earlier version wrote it without a column
    that this one reads: a build recomputes everything then, as on a first build. -#}
{%- macro extract_files_built() -%}
    {%- set built = relation_beside_this('int_extract_files_built') -%}
    {%- if built is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set recorded = adapter.get_columns_in_relation(built) | map(attribute='name') | list -%}
    {%- set needed = ['entity', 'extracted_by_as_of_date', 'as_of_date', 'business_settings'] -%}
    {{ return(built if needed | reject('in', recorded) | list | length == 0 else none) }}
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
    `for_model`, when that incremental model may, for a model that prepares its build.
    `entities`: the extract files that must be unchanged since the previous build (the orders'
    for the order models; also the customers' for the model that carries the master data). -#}
{% macro incremental_run_is_safe(for_model=none, entities=['orders']) %}
    {%- if not execute -%}
        {{ return(false) }}
    {%- elif for_model is none and not is_incremental() -%}
        {{ return(false) }}
    {%- elif for_model is not none
            and (flags.FULL_REFRESH or relation_beside_this(for_model) is none) -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set built = extract_files_built() -%}
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
                select 1 from {{ built }} where as_of_date > {{ as_of_date() }}
            )
            and not exists (
                select 1
                from {{ built }} as built
                left join {{ source('raw', 'load_ledger') }} as ledger
                    on ledger.entity = built.entity and ledger.source_file = built.source_file
                where
                    built.entity in ('{{ entities | join("', '") }}')
                    and ledger.content_sha256 is distinct from built.content_sha256
            )
    {%- endset -%}
    {{ return(run_query(query).columns[0].values()[0]) }}
{% endmacro %}

{#- The orders extract files loaded since the last build of the incremental models. -#}
{% macro new_order_files_sql() -%}
    {#- None before the first build, which recomputes everything anyway. -#}
    {%- set built = extract_files_built() -%}
    {%- if built is none -%}
        select null::varchar as source_file where false
    {%- else -%}
        select source_file from {{ source('raw', 'load_ledger') }}
        where entity = 'orders'
          and source_file not in (select source_file from {{ built }} where entity = 'orders')
    {%- endif -%}
{%- endmacro %}

{#- The master extract files of `entity` (customers, items) that count at the as-of date and did
    not at the last build: new since, or named with a date the as-of date has now reached. -#}
{% macro new_master_files_sql(entity) -%}
    {%- set built = extract_files_built() -%}
    {%- if built is none -%}
        select null::varchar as source_file where false
    {%- else -%}
        select source_file from {{ source('raw', 'load_ledger') }}
        where
            entity = '{{ entity }}'
            and {{ is_extracted_by_as_of_date('source_file') }}
            and source_file not in (
                select source_file from {{ built }}
                where entity = '{{ entity }}' and extracted_by_as_of_date
            )
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

{#- The customers whose usual items (int_customer_usual_items) this build writes again, when it
    may write only some: those whose top items it ranked again (the customers of the new files'
    orders), and those with a top item listed in an item extract that counts since the previous
    build. Without such an extract, the top items are not searched. -#}
{% macro customers_with_usual_items_to_rename_sql() -%}
    {%- set new_item_files = new_master_files_sql('items') -%}
    {{ customers_of_orders_in_new_files_sql() }}
    {%- if execute and run_query(
            "select count(*) > 0 from (" ~ new_item_files ~ ")").columns[0].values()[0] %}
    union
    select customer_key from {{ ref('int_customer_top_items') }}
    where item_id in (
        select item_id from {{ source('raw', 'items') }}
        where _source_file in ({{ new_item_files }})
    )
    {%- endif -%}
{%- endmacro %}

{#- The as-of date of the previous build, as a literal (the as-of date where there is none). -#}
{% macro previous_build_as_of_date() -%}
    {%- set built = extract_files_built() -%}
    {%- if not execute or built is none -%}
        {{ return(as_of_date()) }}
    {%- endif -%}
    {%- set previous = run_query(
        "select max(as_of_date)::varchar from " ~ built
    ).columns[0].values()[0] -%}
    {{ return(as_of_date() if previous is none else "date '" ~ previous ~ "'") }}
{%- endmacro %}

{#- The customers that int_customers_to_recompute lists for these reasons (all when none given):
    `new_orders`, `revenue_window`, `master_data`, by `column` (`customer_key` or `customer_id`). -#}
{% macro customers_to_recompute_sql(reasons=none, column='customer_key') -%}
    select {{ column }} from {{ ref('int_customers_to_recompute') }}
    {%- if reasons is not none %}
    where reason in ('{{ reasons | join("', '") }}')
    {%- endif %}
{%- endmacro %}

{#- The model's filter: only the keys to recompute on a safe incremental build, else all. -#}
{% macro only_keys_to_rebuild(column, keys_sql, entities=['orders']) -%}
    {%- if is_incremental() and incremental_run_is_safe(entities=entities) -%}
        {{ column }} in ({{ keys_sql }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The model's pre-hook: delete the rows that the build recomputes (all of them unless safe),
    so that keys with nothing left to insert (an order dropped, a customer's last order moved)
    go too. -#}
{% macro delete_rows_to_rebuild(column, keys_sql, entities=['orders']) -%}
    {%- if not is_incremental() -%}
        select 1
    {%- elif incremental_run_is_safe(entities=entities) -%}
        delete from {{ this }} where {{ column }} in ({{ keys_sql }})
    {%- else -%}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- The number of this build, as a SQL expression: one more than the last build logged in
    int_customer_item_history_changes (1 before the first). That log numbers the builds; the
    rows of int_customer_activity carry the number of the build that last recomputed them, so
    that the published copy takes only the rows recomputed since the build it holds. Read
    before the log adds this build (the log is built after int_customer_activity). -#}
{% macro this_build_number() -%}
    {%- set log = relation_beside_this('int_customer_item_history_changes') -%}
    {%- if log is none -%}
        1
    {%- else -%}
        (select coalesce(max(build_number), 0) + 1 from {{ log }})
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

{#- The post-hook of int_customer_activity: the rows a build did not recompute hold at its as-of
    date too (their purchases, trailing revenue and master data have not changed since), so
    their date moves to it, in the transaction that replaced the others. -#}
{% macro move_every_row_to_the_as_of_date() -%}
    update {{ this }} set as_of_date = {{ as_of_date() }}
    where as_of_date is distinct from {{ as_of_date() }}
{%- endmacro %}

{#- For int_extract_files_built: its record as the warehouse holds it, when this dbt command
    leaves out a model it depends on (a subset materialized in the Dagster UI, a `dbt build
    --select`); none when the command builds them all, or there is no record yet. A build that
    recorded the files without those models would mark as absorbed files whose orders no model
    has read, and the next build would skip them: the record stays as it was instead, and the
    log says why. -#}
{% macro record_kept_unless_every_absorbing_model_is_built() -%}
    {%- set record = relation_beside_this('int_extract_files_built') -%}
    {%- if record is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set left_out = model.depends_on.nodes | select('in', graph.nodes)
        | reject('in', selected_resources) | list -%}
    {%- if not left_out -%}
        {{ return(none) }}
    {%- endif -%}
    {%- do exceptions.warn(
        "int_extract_files_built keeps its record of the extract files absorbed: this build "
        ~ "leaves out " ~ (left_out | map('replace', 'model.' ~ project_name ~ '.', '') | join(', '))
        ~ ", which must read the new files first (materialize the whole dbt step)."
    ) -%}
    {{ return(record) }}
{%- endmacro %}
