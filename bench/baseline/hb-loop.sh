#!/usr/bin/env bash
# The bash heartbeat sidecar that mosaic-hb replaces, rebuilt for the
# benchmark. It must cost what the original costs, so it keeps every one of
# its habits: `kill -0` (a builtin) as the liveness check, a fork for `date`,
# one for `mv` and one for `sleep` on every beat, and a temp file renamed over
# the record.
#
# usage: hb-loop.sh HB_FILE PID INTERVAL_SECONDS
hb_file=$1
watched_pid=$2
interval=$3

mkdir -p "$(dirname "$hb_file")"
while kill -0 "$watched_pid" 2>/dev/null; do
    tmp_file="$hb_file.tmp.$$"
    printf 'ts=%s\npid=%s\nstatus=ok\n' "$(date +%Y-%m-%dT%H:%M:%S%z)" "$watched_pid" >"$tmp_file" &&
        mv "$tmp_file" "$hb_file"
    sleep "$interval"
done
