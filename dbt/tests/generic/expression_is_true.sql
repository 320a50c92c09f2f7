{#- Fails on every row where `expression` is not true (dbt_utils' test, written here because dbt packages cannot be
    downloaded where the pipeline runs). A `where` config limits the rows checked. -#}
{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}
