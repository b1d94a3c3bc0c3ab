# bash completion for dbsnap                                          -*- shell-script -*-
#
# Installed as /usr/share/bash-completion/completions/dbsnap (bash-completion loads it on demand);
# without bash-completion, `source` this file from ~/.bashrc. It completes commands, options and
# option choices, target names from dbsnap.toml, and snapshot ids, `latest` and @REVISION from
# the store. dbsnap itself supplies the candidates (`dbsnap __complete -- WORD...`), so this file
# never parses dbsnap.toml and never goes stale when options are added.

_dbsnap() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prog=${COMP_WORDS[0]}
    [[ $prog == "~/"* ]] && prog=$HOME/${prog#"~/"}
    if [[ $prog != */* ]]; then
        prog=$(type -P "$prog") || return 0
    fi

    # The words after the program up to the cursor; "--opt" "=" "value", split by bash at '='
    # (COMP_WORDBREAKS), joined back into "--opt=value".
    local -a words=()
    local i w joining=0
    for ((i = 1; i <= COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $w == "=" && ${#words[@]} -gt 0 && ${words[-1]} == --* && ${words[-1]} != *=* ]]; then
            words[-1]+="="
            joining=1
        elif ((joining)); then
            words[-1]+=$w
            joining=0
        else
            words+=("$w")
        fi
    done
    ((${#words[@]})) || words=("")

    # What readline replaces: the text after '=' when bash split the word there, the whole
    # "--opt=value" (so candidates need the "--opt=" prefix) when it did not.
    local prefix="" value=$cur
    if [[ $cur == "=" ]]; then
        value=""
    elif [[ $cur == --*=* ]]; then
        prefix=${cur%%=*}=
        value=${cur#*=}
    fi

    local out
    out=$("$prog" __complete -- "${words[@]}" 2>/dev/null </dev/null) || return 0
    local -a found=()
    [[ -n $out ]] && mapfile -t found <<<"$out"
    COMPREPLY=()
    case ${found[0]-} in
        '!files')
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$value") ;;
        '!dirs')
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -d -- "$value") ;;
        '!commands')
            mapfile -t COMPREPLY < <(compgen -c -- "$value") ;;
        *)
            COMPREPLY=("${found[@]}") ;;
    esac
    if [[ -n $prefix ]]; then
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]=$prefix${COMPREPLY[i]}
        done
    fi
    return 0
}

complete -F _dbsnap dbsnap
