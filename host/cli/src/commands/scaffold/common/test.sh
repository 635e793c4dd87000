#!/bin/sh
# {{name}}'s own test: build the component, install it into a scratch warden
# home with exactly the grants it needs, call each tool and check the answer.
# Your own warden state is not touched. Run it with `./test.sh`; set
# WARDEN=/path/to/warden to test with another warden binary.
set -eu
cd "$(dirname "$0")"

if [ -z "${WARDEN:-}" ]; then
    if command -v warden >/dev/null 2>&1; then
        WARDEN=warden
    elif [ -x {{warden}} ]; then
        WARDEN={{warden}}
    else
        echo "test.sh: no warden on PATH; set WARDEN=/path/to/warden" >&2
        exit 2
    fi
fi

scratch="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
    rm -rf "$scratch"
}
trap cleanup EXIT INT TERM
ws="$scratch/workspace"
mkdir -p "$ws" "$scratch/home"

# warden with its state (grants, audit log, compiled cache) in the scratch dir.
w() {
    HOME="$scratch/home" XDG_CONFIG_HOME="$scratch/home/config" \
        XDG_DATA_HOME="$scratch/home/data" XDG_CACHE_HOME="$scratch/home/cache" \
        "$WARDEN" "$@"
}

failed=0
# expect TOOL INPUT TEXT: the call succeeds and its JSON answer contains TEXT.
expect() {
    if answer="$(w call "$1" --json --workspace "$ws" --input "$2" 2>"$scratch/stderr")"; then
        case "$answer" in
        *"$3"*)
            echo "ok   $1"
            return
            ;;
        esac
    fi
    echo "FAIL $1 $2: expected an answer containing '$3', got:" >&2
    echo "$answer" >&2
    cat "$scratch/stderr" >&2
    failed=1
}

echo "building {{name}}"
{{build}}
{{setup}}
echo "installing $wasm"
w plugin install "$wasm" {{grants}} --yes
{{checks}}
if [ "$failed" -ne 0 ]; then
    echo "{{name}}: some tools failed" >&2
    exit 1
fi
echo "{{name}}: all tools answered as expected"
