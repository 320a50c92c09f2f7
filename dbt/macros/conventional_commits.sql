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

{#- The message after its first line, at most 1,000 characters, lowercased: cc_body's input. '' without a body. -#}
{% macro cc_body_text(message) -%}
    lower(left(case when strpos({{ message }}, chr(10)) > 0 then substr({{ message }}, strpos({{ message }}, chr(10)) + 1) else '' end, 1000))
{%- endmacro %}

{#- The classifier's body text: cc_body_text with everything that could carry a label or an identity cut out: a
    Conventional Commits header at the start of any line (squash commits list their parts as `* feat(x): ...`),
    `Signed-off-by:`-style trailers, and commit hashes (`This reverts commit 1a2b3c4.` keeps its words, not its
    sha). `body` must be a column, not an expression: it is read up to four times. The guard skips the three
    regular expressions where none can match (headers and trailers need a colon, hashes a run of 7 hex
    digits, and cutting either never makes one): 39 % of the bodies in the 1M benchmark, whose three
    replacements took 11.8 s with the guard's 8.1 s for the same output (md5 of every body compared). -#}
{% macro cc_body(body) -%}
    case
        when strpos({{ body }}, ':') = 0 and {{ body }} !~ '[0-9a-f]{7}' then {{ body }}
        else regexp_replace(regexp_replace(regexp_replace({{ body }},
            '^[ \t]*[*-]?[ \t]*({{ cc_types() }})(\([^():\r\n]*\))?!?:[ \t]*', ' ', 'gn'),
            '^(signed-off-by|co-authored-by|reviewed-by|acked-by|tested-by|reported-by):.*$', ' ', 'gn'),
            '\m[0-9a-f]{7,40}\M', 'hexsha', 'g')
    end
{%- endmacro %}
