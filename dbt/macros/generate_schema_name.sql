{#- Custom schemas are used verbatim (staging, analytics), not prefixed with the target schema: the warehouse
    contract names them, and other stages (quality, ml) query them by those names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
