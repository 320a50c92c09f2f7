{#- Conventional Commits parsing, one definition shared by fct_commits and ml_commit_features.

    A subject is conventional when its first line reads `type(scope)!: description`: the type is one of the
    project var's list (case-insensitive), the scope optional and without parentheses or line breaks, `!` optional,
    then a colon, whitespace and a non-empty description. Project prefixes (`release:`, `wip:`, `types:`) and
    git's own `Revert "..."` subjects are not labels. -#}

{#- The types come from the project var `commitlake_commit_types` (dbt_project.yml), the one list. -#}
{% macro cc_types() -%}
    {{ var('commitlake_commit_types') | join('|') }}
{%- endmacro %}

{#- True when the subject is conventional. One DFA match per row; the parts are then cut out with string
    functions, which is several times cheaper than regexp_match captures on a million rows. The scope holds no
    parentheses, colon or line break, so the header is everything before the first colon. -#}
{% macro cc_is_conventional(subject) -%}
    coalesce({{ subject }} ~* '^({{ cc_types() }})(\([^():\r\n]*\))?!?:\s+\S', false)
{%- endmacro %}

{#- `type(scope)!` of a subject: the text before its first colon. -#}
{% macro cc_header(subject) -%}
    split_part({{ subject }}, ':', 1)
{%- endmacro %}

{% macro cc_type(header) -%}
    lower(split_part(split_part({{ header }}, '(', 1), '!', 1))
{%- endmacro %}

{% macro cc_scope(header) -%}
    nullif(btrim(split_part(split_part({{ header }}, '(', 2), ')', 1)), '')
{%- endmacro %}

{% macro cc_bang(header) -%}
    (right({{ header }}, 1) = '!')
{%- endmacro %}

{#- The first line of a commit message, without surrounding whitespace or carriage return. -#}
{% macro commit_subject(message) -%}
    btrim(split_part({{ message }}, chr(10), 1), ' ' || chr(9) || chr(13))
{%- endmacro %}

{#- A `BREAKING CHANGE:` / `BREAKING-CHANGE:` footer line (the spec's other way to mark a breaking change); the
    strpos guard skips the regexp for the 99 % of messages without the word. -#}
{% macro has_breaking_footer(message) -%}
    (strpos({{ message }}, 'BREAKING') > 0 and {{ message }} ~ '(^|\n)BREAKING[ -]CHANGE: ')
{%- endmacro %}

{#- The classifier's text: for a conventional subject, the description after the `type(scope)!:` header (so the
    label never leaks into the input); otherwise the whole subject. Lowercased and trimmed. -#}
{% macro cc_text(subject, is_conventional) -%}
    btrim(lower(
        case
            when {{ is_conventional }} then substr({{ subject }}, length({{ cc_header(subject) }}) + 2)
            else {{ subject }}
        end
    ), ' ' || chr(9))
{%- endmacro %}

{#- The classifier's body text: the message after its first line, at most 1,000 characters, lowercased, with
    everything that could carry a label or an identity cut out: a Conventional Commits header at the start of any
    line (squash commits list their parts as `* feat(x): ...`), `Signed-off-by:`-style trailers, and commit
    hashes (`This reverts commit 1a2b3c4.` keeps its words, not its sha). '' when there is no body. -#}
{% macro cc_body(message) -%}
    regexp_replace(regexp_replace(regexp_replace(
        lower(left(case when strpos({{ message }}, chr(10)) > 0 then substr({{ message }}, strpos({{ message }}, chr(10)) + 1) else '' end, 1000)),
        '^[ \t]*[*-]?[ \t]*({{ cc_types() }})(\([^():\r\n]*\))?!?:[ \t]*', ' ', 'gn'),
        '^(signed-off-by|co-authored-by|reviewed-by|acked-by|tested-by|reported-by):.*$', ' ', 'gn'),
        '\m[0-9a-f]{7,40}\M', 'hexsha', 'g')
{%- endmacro %}
