#!/usr/bin/env bash
# The tpmiot demo: a software TPM and a local hub, a device whose key goes from
# the hub straight into the TPM, messages both ways with tokens signed in the
# TPM. Everything runs in a temporary directory, on ports picked here, and is
# stopped and removed at the end, whatever happens.
set -euo pipefail
BUILD=$(realpath "${1:-build}")
T=$BUILD/cli/tpmiot
HUB=$BUILD/hub/tpmiot-hub
DIR=$(mktemp -d "${TMPDIR:-/tmp}/tpmiot-demo-XXXXXX")
STATE="$DIR/swtpm"
HUBDIR="$DIR/hub"
HOST=demo-hub.local
PIDS=()
export TSS2_LOG=all+none

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    "$T" simulator stop --state "$STATE" >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }

step "1. Start the software TPM (swtpm on a unix socket, state in $STATE)"
TCTI=$(run "$T" simulator start --state "$STATE")
echo "$TCTI"
export TPMIOT_TCTI="$TCTI"
run "$T" tpm info

step "2. Create a local hub and run it (Mosquitto + our plugin, REST over HTTPS)"
# The owner connection string is printed once; the demo keeps it (mode 0600) for step 3.
(umask 077; run "$HUB" --dir "$HUBDIR" init --hostname $HOST >"$DIR/owner.cs")
for _ in 1 2 3 4 5; do
    BASE=$((20000 + RANDOM % 30000))
    MQTT=$BASE REST=$((BASE + 1))
    "$HUB" --dir "$HUBDIR" run --bind 127.0.0.1 --mqtt-port $MQTT --rest-port $REST 2>"$DIR/hub.log" &
    PIDS+=($!)
    for _ in $(seq 100); do [ -f "$HUBDIR/run.json" ] && break; sleep 0.1; done
    [ -f "$HUBDIR/run.json" ] && break
done
[ -f "$HUBDIR/run.json" ] || { cat "$DIR/hub.log"; exit 1; }
echo "hub $HOST: mqtts on 127.0.0.1:$MQTT, https on 127.0.0.1:$REST, CA $HUBDIR/ca.crt"

step "3. One step: register the device in the hub and put its key straight into TPM slot 0"
run "$T" provision 0 --hub-connection-string-file "$DIR/owner.cs" --device-id demo-device-1 --create \
    --ca-file "$HUBDIR/ca.crt" --gateway-host 127.0.0.1 --rest-port $REST --mqtt-port $MQTT
echo "the key went from the hub's HTTPS answer into the TPM (handle 0x81000100); it is on no disk"

step "4. The slot (the key is never printed again)"
run "$T" slot show 0

step "5. A SAS token for slot 0, signed by one TPM2_HMAC"
TOKEN=$(run "$T" token 0 --ttl 3600)
echo "$TOKEN"

step "6. Watch the hub: the monitor prints what devices send"
"$HUB" --dir "$HUBDIR" --json monitor --count 5 --timeout 30 >"$DIR/monitor" 2>"$DIR/monitor.err" &
MON=$!
PIDS+=($MON)
sleep 1

step "7. The device sends five messages: \`tpmiot send\` with nothing but slot 0"
C=(--ca-file "$HUBDIR/ca.crt" --port $MQTT --gateway-host 127.0.0.1 --queue-dir "$DIR/queue")
for i in 1 2 3 4 5; do
    run "$T" send 0 "${C[@]}" --prop seq=$i --content-type application/json "{\"reading\":$i}"
done
wait $MON || true
echo "the hub's monitor saw:"
cat "$DIR/monitor"
[ "$(wc -l <"$DIR/monitor")" = 5 ] || { echo "expected 5 messages" >&2; exit 1; }

step "8. A cloud-to-device message, received by \`tpmiot listen\` on slot 0"
"$T" listen 0 "${C[@]}" --count 1 --timeout 20 >"$DIR/c2d" 2>"$DIR/listen.err" &
SUB=$!
PIDS+=($SUB)
sleep 1.5
run "$HUB" --dir "$HUBDIR" c2d send demo-device-1 --prop command=blink 'turn the LED on'
wait $SUB || true
echo "the device received:"
cat "$DIR/c2d"
grep -q 'turn the LED on' "$DIR/c2d" || { echo "no message arrived" >&2; exit 1; }

step "9. A tampered token is refused by the hub (tried with mosquitto_pub)"
USER="$HOST/demo-device-1/?api-version=2021-04-12"
BAD="${TOKEN%%sig=*}sig=AAAA${TOKEN#*sig=????}"
if mosquitto_pub -h 127.0.0.1 -p $MQTT --cafile "$HUBDIR/ca.crt" -V mqttv311 -i demo-device-1 \
    -u "$USER" -P "$BAD" -t devices/demo-device-1/messages/events/ -m x 2>&1; then
    echo "BUG: a tampered token was accepted" >&2
    exit 1
fi

step "Done: stopping the hub and the software TPM, removing $DIR"
