{#- Watermark predicate for incremental models: only rows newer than the newest row already in {{ this }}.
    `column` is this model's copy of the upstream timestamp, `upstream_column` the expression to compare (defaults
    to the same name). Put it in the first CTE that reads the upstream relation, so the filter runs before any
    jsonb extraction or join. -#}
{% macro watermark(column='loaded_at', upstream_column=none, lookback_minutes=none) -%}
    {%- set minutes = lookback_minutes if lookback_minutes is not none else var('commitlake_lookback_minutes', 0) -%}
    {{ upstream_column or column }} > (
        select coalesce(max({{ column }}), '-infinity'::timestamptz) - interval '{{ minutes | int }} minutes'
        from {{ this }}
    )
{%- endmacro %}
