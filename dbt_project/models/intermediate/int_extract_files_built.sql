{#- The post-hook drops the record that earlier versions kept (of orders files only): a
    warehouse they built is rebuilt whole once, after which that record is of no use. -#}
{{ config(post_hook="drop table if exists {{ this.schema }}.int_order_files_built") }}
-- The extract files the incremental models have absorbed, whether that build saw everything, its
-- as-of date and its business settings (see macros/incremental.sql). Built after them, read by
-- their next build.
-- depends_on: {{ ref('int_order_lines_current') }}
-- depends_on: {{ ref('int_orders') }}
-- depends_on: {{ ref('int_customer_item_history') }}
-- depends_on: {{ ref('int_customer_item_history_recomputed') }}
-- depends_on: {{ ref('int_customer_top_items') }}
-- depends_on: {{ ref('int_customer_usual_items') }}
-- depends_on: {{ ref('int_customer_item_history_changes') }}
-- depends_on: {{ ref('int_customer_purchase_history') }}
-- depends_on: {{ ref('int_customer_activity') }}
{#- Recorded only by a build of every model that absorbs the files (macros/incremental.sql). -#}
{%- set record_to_keep = record_kept_unless_every_absorbing_model_is_built() %}
{%- if record_to_keep is not none %}
    select * from {{ record_to_keep }}  -- noqa: AM04
{%- else %}
    select
        entity,
        source_file,
        content_sha256,
        {{ is_extracted_by_as_of_date('source_file') }} as extracted_by_as_of_date,
        {{ sees_everything_sql() }} as sees_everything,
        {{ as_of_date() }} as as_of_date,
        '{{ incremental_business_settings() }}' as business_settings
    from {{ source('raw', 'load_ledger') }}
{%- endif %}
