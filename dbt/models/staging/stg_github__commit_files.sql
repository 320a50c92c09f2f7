with

source as (

    select * from {{ source('github', 'commits') }}
    where jsonb_typeof(payload -> 'files') = 'array'
    {% if is_incremental() %}
        and {{ watermark('loaded_at') }}
    {% endif %}

),

files as (

    select
        source.repo_full_name,
        source.sha,
        source.loaded_at,
        file.value as file,
        file.ordinality as file_index
    from source
    cross join lateral jsonb_array_elements(source.payload -> 'files') with ordinality as file (value, ordinality)

),

renamed as (

    select

        ----------  ids
        repo_full_name || '@' || sha as commit_id,
        repo_full_name,
        sha,
        file_index::integer as file_index,

        ---------- text
        file ->> 'filename' as filename,
        file ->> 'previous_filename' as previous_filename,
        file ->> 'status' as status,

        ---------- numerics
        (file ->> 'additions')::integer as additions,
        (file ->> 'deletions')::integer as deletions,
        (file ->> 'changes')::integer as changes,

        ---------- timestamps
        loaded_at,
        now() as transformed_at

    from files

)

select * from renamed
