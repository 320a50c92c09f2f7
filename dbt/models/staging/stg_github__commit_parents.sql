with

source as (

    select * from {{ source('github', 'commits') }}
    where jsonb_typeof(payload -> 'parents') = 'array'
    {% if is_incremental() %}
        and {{ watermark('loaded_at') }}
    {% endif %}

),

parents as (

    select
        source.repo_full_name,
        source.sha,
        source.loaded_at,
        parent.value as parent,
        parent.ordinality as parent_index
    from source
    cross join lateral jsonb_array_elements(source.payload -> 'parents') with ordinality as parent (value, ordinality)

),

renamed as (

    select

        ----------  ids
        repo_full_name || '@' || sha as commit_id,
        repo_full_name,
        sha,
        parent_index::integer as parent_index,
        parent ->> 'sha' as parent_sha,

        ---------- timestamps
        loaded_at,
        now() as transformed_at

    from parents

)

select * from renamed
