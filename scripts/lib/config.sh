# shellcheck shell=sh
# The configuration file and the run folder of vinyl's shell tools (vinyl-up, vinyl-down):
# sourced, not run. The same rules as the Rust library's config module (src/config.rs), which
# vinyl-rec uses; keep the two in step.
#
#   load_config FILE   sets and exports the VINYL_* variables of FILE's KEY=value lines
#   run_folder         sets run_dir to the run folder, or returns 1 when no rule gives one
#
# The script that sources this file defines die CODE MESSAGE...

# load_config FILE: sets and exports the VINYL_* variables of FILE's KEY=value lines (the tools read
# their keys from the environment, as under systemd's EnvironmentFile=) without running it as shell
# code; a variable already in the environment keeps its value. Values may be quoted "..." or '...'.
# A malformed line (not KEY=value, or a key not of A-Z0-9_ starting with V) is a usage error naming
# FILE and the line; keys that do not start with VINYL_ are skipped.
load_config() {
    cfg=$1
    env_keys=" $(env | sed -n 's/^\(VINYL_[A-Z0-9_]*\)=.*/\1/p' | tr '\n' ' ')"
    lineno=0
    while IFS= read -r line || [ -n "$line" ]; do
        lineno=$((lineno + 1))
        line=${line#"${line%%[! 	]*}"}
        case $line in
            '' | '#'*) continue ;;
        esac
        key=${line%%=*}
        value=${line#*=}
        case $key in
            "$line" | '' | *[!A-Z0-9_]* | [!V]*) die 2 "$cfg:$lineno: expected KEY=value, got: $line" ;;
            VINYL_*) ;;
            *) continue ;;
        esac
        case $value in
            \"*\") value=${value#\"} value=${value%\"} ;;
            \'*\') value=${value#\'} value=${value%\'} ;;
        esac
        case $env_keys in
            *" $key "*) ;;
            *) eval "$key=\$value" && export "${key?}" ;;
        esac
    done <"$cfg"
}

# run_folder: sets run_dir by vinyl's one rule: $VINYL_RUN_DIR when set; /run/vinyl for root;
# $XDG_RUNTIME_DIR/vinyl for a user with a session; /run/vinyl when it is a folder the user owns
# (the systemd units' user, which has no XDG_RUNTIME_DIR). Returns 1 when none applies.
run_folder() {
    if [ -n "${VINYL_RUN_DIR:-}" ]; then
        run_dir=$VINYL_RUN_DIR
    elif [ "$(id -u)" -eq 0 ]; then
        run_dir=/run/vinyl
    elif [ -n "${XDG_RUNTIME_DIR:-}" ]; then
        run_dir=$XDG_RUNTIME_DIR/vinyl
    elif [ -d /run/vinyl ] && [ -O /run/vinyl ]; then
        run_dir=/run/vinyl
    else
        return 1
    fi
}
