# Shared by the shell tests: a private swtpm, assertions, a summary line.
# Each test script sources this, then calls start_tpm; the trap stops the
# swtpm and removes the directory on every exit path.
set -u
TPMIOT=${TPMIOT:?set TPMIOT to the tpmiot binary}
PASS=0
FAIL=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tpmiot-sh-XXXXXX")
export XDG_STATE_HOME="$WORK/state" # never the user's default simulator
export TSS2_LOG=all+none

# Processes a test starts in the background: stopped on every exit path.
track_pid() { echo "$1" >>"$WORK/pids"; }
stop_tracked() {
    [ -f "$WORK/pids" ] || return 0
    while read -r p; do kill "$p" 2>/dev/null; done <"$WORK/pids"
    sleep 0.3
    while read -r p; do kill -9 "$p" 2>/dev/null; done <"$WORK/pids"
    return 0
}

cleanup() {
    stop_tracked
    "$TPMIOT" simulator stop --state "$WORK/tpm" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    [ -n "${WATCHER:-}" ] && kill "$WATCHER" 2>/dev/null
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A SIGKILL (a runner's timeout) runs no trap: a watcher cleans up after us.
(
    trap '' INT TERM
    while kill -0 $$ 2>/dev/null; do sleep 0.5; done
    stop_tracked
    "$TPMIOT" simulator stop --state "$WORK/tpm" >/dev/null 2>&1
    rm -rf "$WORK"
) </dev/null >/dev/null 2>&1 &
WATCHER=$!

start_tpm() {
    TCTI=$("$TPMIOT" simulator start --state "$WORK/tpm") || { echo "cannot start swtpm" >&2; exit 1; }
    export TPMIOT_TCTI="$TCTI" TPM2TOOLS_TCTI="$TCTI"
}

ok() { PASS=$((PASS + 1)); }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*" >&2; }

# check DESCRIPTION COMMAND...: the command must exit 0.
check() {
    local what=$1; shift
    if "$@" >"$WORK/out" 2>"$WORK/err"; then ok; else bad "$what (exit $?): $(head -3 "$WORK/err")"; fi
}

# refuse DESCRIPTION STATUS PATTERN COMMAND...: must exit STATUS with exactly
# one line on stderr matching PATTERN (grep -E), and print nothing on stdout.
refuse() {
    local what=$1 want=$2 pat=$3 rc=0; shift 3
    "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
    if [ "$rc" != "$want" ]; then bad "$what: exit $rc, want $want: $(head -3 "$WORK/err")"; return; fi
    if [ "$(wc -l <"$WORK/err")" != 1 ]; then bad "$what: stderr not one line: $(cat "$WORK/err")"; return; fi
    if ! grep -qE -- "$pat" "$WORK/err"; then bad "$what: stderr '$(cat "$WORK/err")' lacks '$pat'"; return; fi
    if [ -s "$WORK/out" ]; then bad "$what: printed on stdout: $(head -1 "$WORK/out")"; return; fi
    ok
}

# same DESCRIPTION A B: two strings must be equal.
same() {
    if [ "$2" = "$3" ]; then ok; else bad "$1: '$2' != '$3'"; fi
}

summary() {
    echo "$(basename "$0"): $PASS passed, $FAIL failed"
    [ "$FAIL" = 0 ]
}

# HMAC-SHA256 of file $2 with the raw key in file $1, base64.
openssl_hmac() {
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(od -An -v -tx1 "$1" | tr -d ' \n')" -binary "$2" | base64
}

# An ASan-built plugin in Debian's mosquitto needs the runtimes preloaded.
hub_sanitizer_wrapper() {
    if [ -n "${SANITIZER_PRELOAD:-}" ]; then
        printf '#!/bin/sh\nLD_PRELOAD="%s" ASAN_OPTIONS=detect_leaks=0 exec mosquitto "$@"\n' \
            "${SANITIZER_PRELOAD//:/ }" >"$WORK/mosquitto"
        chmod +x "$WORK/mosquitto"
        export TPMIOT_MOSQUITTO="$WORK/mosquitto"
    fi
}

# A hub of the test's own in $D on random free ports: MQTT (TLS), REST, plain MQTT.
start_hub() {
    local tries
    hub_sanitizer_wrapper
    for tries in 1 2 3 4 5; do
        BASE=$((20000 + RANDOM % 30000))
        MQTT=$BASE REST=$((BASE + 1)) PLAIN=$((BASE + 2))
        "$HUB" --dir "$D" run --bind 127.0.0.1 --mqtt-port $MQTT --rest-port $REST \
            --plain-mqtt-port $PLAIN 2>>"$WORK/hub.log" &
        HUBPID=$!
        track_pid $HUBPID
        for _ in $(seq 100); do
            [ -f "$D/run.json" ] && return 0
            kill -0 $HUBPID 2>/dev/null || break
            sleep 0.1
        done
        kill $HUBPID 2>/dev/null
        wait $HUBPID 2>/dev/null
    done
    echo "hub did not start: $(tail -5 "$WORK/hub.log")" >&2
    exit 1
}
stop_hub() {
    kill -TERM $HUBPID
    wait $HUBPID
    HUBRC=$?
}
