with

source as (

    select * from {{ source('github', 'commits') }}
    {% if is_incremental() %}
    where {{ watermark('loaded_at') }}
    {% endif %}

),

renamed as (

    select

        ----------  ids
        repo_full_name || '@' || sha as commit_id,
        repo_full_name,
        sha,
        payload #>> '{commit,tree,sha}' as tree_sha,

        ---------- people
        payload #>> '{commit,author,name}' as author_name,
        payload #>> '{commit,author,email}' as author_email,
        payload #>> '{commit,committer,name}' as committer_name,
        payload #>> '{commit,committer,email}' as committer_email,

        ---------- text
        payload #>> '{commit,message}' as message,

        ---------- numerics
        coalesce(jsonb_array_length(
            case when jsonb_typeof(payload -> 'parents') = 'array' then payload -> 'parents' end
        ), 0) as parent_count,
        (payload #>> '{stats,additions}')::integer as additions,
        (payload #>> '{stats,deletions}')::integer as deletions,
        jsonb_array_length(
            case when jsonb_typeof(payload -> 'files') = 'array' then payload -> 'files' end
        ) as files_changed,

        ---------- timestamps
        authored_at,
        committed_at,
        loaded_at,
        now() as transformed_at,

        ---------- lineage
        source_kind,
        lake_key,
        run_id

    from source

)

select * from renamed
