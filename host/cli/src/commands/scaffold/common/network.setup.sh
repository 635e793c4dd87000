# A local HTTP server for the `get` tool; it stops by itself after a minute.
{{serve_build}}
{{serve}} >"$scratch/port" &
server=$!
tries=0
until [ -s "$scratch/port" ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt 300 ]; then
        echo "test.sh: the local test server did not start" >&2
        exit 1
    fi
    sleep 0.1
done
port="$(head -n 1 "$scratch/port")"
