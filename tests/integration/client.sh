#!/usr/bin/env bash
# The device client (tpmiot send/listen) against a real tpmiot-hub, with the
# key in swtpm: properties, cloud-to-device, offline queueing, token renewal,
# hub restart, kill -9 of the sender, a frozen hub, refused credentials.
. "$(dirname "$0")/lib.sh"
HUB=${TPMIOT_HUB:?}
T=$TPMIOT
start_tpm
cd "$WORK"
D="$WORK/hub"
HOST=client.test.local
"$HUB" --dir "$D" init --hostname $HOST >/dev/null 2>&1 || { echo "init failed"; exit 1; }
start_hub
for d in dev1 dev2 dev3 off; do "$HUB" --dir "$D" device create $d >/dev/null || exit 1; done
"$HUB" --dir "$D" device disable off >/dev/null 2>&1
n=0
for d in dev1 dev2 dev3 off; do
    "$HUB" --dir "$D" device connection-string $d | "$T" slot provision $n --connection-string-file - 2>/dev/null
    n=$((n + 1))
done
# A key the hub never issued, for a device it knows.
head -c 32 /dev/urandom | base64 >wrong.key
"$T" slot provision 4 --host $HOST --device-id dev1 --key-file wrong.key 2>/dev/null
C=(--ca-file "$D/ca.crt" --port "$MQTT" --gateway-host 127.0.0.1)
SVC=$("$HUB" --dir "$D" token --policy service)

collector() { # start a service subscriber that writes "topic payload" lines to $1
    mosquitto_sub -h 127.0.0.1 -p $MQTT --cafile "$D/ca.crt" -V mqttv311 -i "svc#$1" -c \
        -u "service@$HOST" -P "$SVC" -t 'devices/+/messages/events/#' -q 1 -v >>"$WORK/$1" 2>/dev/null &
    track_pid $!
    COLLECTOR=$!
    sleep 0.5
}
count_unique() { grep -o 'seq-[0-9]*$' "$1" | sort -u | wc -l; }
count_all() { grep -c 'seq-[0-9]*$' "$1"; }

# ---- properties survive the trip, in both directions ----
"$HUB" --dir "$D" --json monitor --count 1 --timeout 20 >mon 2>mon.err &
MON=$!
track_pid $MON
sleep 0.5
check "send with properties" "$T" send 0 "${C[@]}" --prop 'sp ace=a&b=c/d' --prop 'ключ=значение ü' \
    --message-id 'mid-1' --correlation-id 'cid/1' --content-type 'text/plain' --content-encoding utf-8 'payload with spaces & = / é'
wait $MON
same "telemetry arrives intact" "$(cat mon)" '{"deviceId":"dev1","properties":{"sp ace":"a&b=c/d","ключ":"значение ü","$.mid":"mid-1","$.cid":"cid/1","$.ct":"text/plain","$.ce":"utf-8"},"payload":"payload with spaces & = / é"}'
"$T" --json listen 1 "${C[@]}" --count 1 --timeout 20 >c2d 2>c2d.err &
L=$!
track_pid $L
sleep 1.5
check "c2d send" "$HUB" --dir "$D" c2d send dev2 --prop 'x-y=1&2 é/=' --content-type application/json '{"on":true}'
wait $L
same "listen exit" "$?" "0"
grep -q '^{"payload":"{\\"on\\":true}","properties":{"x-y":"1&2 é/="},"messageId":"[0-9a-f-]*","contentType":"application/json"}$' c2d && ok || bad "c2d: $(cat c2d)"

# ---- an offline device gets what was queued for it ----
check "dev3 session" "$T" listen 2 "${C[@]}" --timeout 2
for i in 1 2 3; do check "c2d while offline $i" "$HUB" --dir "$D" c2d send dev3 "offline-$i"; done
check "dev3 back" "$T" listen 2 "${C[@]}" --count 3 --timeout 15
same "queued messages on reconnect" "$(grep -c '^offline-[123] ($.mid=' out)" "3"

# ---- refused credentials back off: no tight loop ----
for slot in 3 4; do
    before=$(grep -c "refused client '$( [ $slot = 3 ] && echo off || echo dev1)'" "$WORK/hub.log")
    "$T" listen $slot "${C[@]}" --timeout 12 >/dev/null 2>"listen$slot.err"
    after=$(grep -c "refused client '$( [ $slot = 3 ] && echo off || echo dev1)'" "$WORK/hub.log")
    attempts=$((after - before))
    echo "slot $slot: $attempts CONNECT attempts in 12 s"
    [ $attempts -ge 2 ] && [ $attempts -le 7 ] && ok || bad "slot $slot: $attempts attempts in 12 s"
    grep -q 'bad credentials' "listen$slot.err" && ok || bad "not reported as bad credentials: $(head -2 listen$slot.err)"
done

# A hub that is not there at all (refused TCP connects): backoff, no busy loop.
TIMEFORMAT='%U %S'
{ time "$T" listen 0 --ca-file "$D/ca.crt" --port 1 --gateway-host 127.0.0.1 --timeout 6 2>closed.err; } 2>closed.time
cpu=$(awk '{print $1 + $2}' closed.time)
echo "closed port: $(grep -c 'retrying' closed.err) attempts and ${cpu}s CPU in 6 s"
[ "$(grep -c 'connection refused; retrying' closed.err)" -le 5 ] && ok || bad "too many attempts: $(cat closed.err)"
echo "$cpu < 0.5" | bc -l | grep -q 1 && ok || bad "busy while the hub is away: ${cpu}s CPU"

# ---- token renewal: 10-second tokens, 60 seconds of sending ----
collector renew
( for i in $(seq 1 600); do echo "seq-$i"; sleep 0.1; done ) |
    "$T" send 0 "${C[@]}" --token-ttl 10 --queue-dir "$WORK/q-renew" - 2>renew.err
same "renewal run acknowledged" "$?" "0"
sleep 1
same "all 600 arrived across renewals" "$(count_unique "$WORK/renew")" "600"
renewals=$(grep -c 'token renewed' renew.err)
echo "token renewals in 60 s: $renewals; deliveries $(count_all "$WORK/renew") for 600 messages"
[ "$renewals" -ge 5 ] && ok || bad "only $renewals renewals"
kill $COLLECTOR

# ---- the hub stops in the middle of 2000 messages ----
seq -f 'seq-%g' 1 2000 >msgs
collector restart
"$T" send 0 "${C[@]}" --queue-dir "$WORK/q-restart" --timeout 120 - <msgs 2>restart.err &
S=$!
track_pid $S
for _ in $(seq 200); do [ "$(count_all "$WORK/restart")" -ge 400 ] && break; sleep 0.05; done
stop_hub
sleep 2
start_hub2() { # the same ports again
    "$HUB" --dir "$D" run --bind 127.0.0.1 --mqtt-port $MQTT --rest-port $REST --plain-mqtt-port $PLAIN 2>>"$WORK/hub.log" &
    HUBPID=$!
    track_pid $HUBPID
    for _ in $(seq 100); do [ -f "$D/run.json" ] && break; sleep 0.1; done
}
start_hub2
# mosquitto_sub does not reconnect; its persistent session kept what came meanwhile.
collector restart
wait $S
same "sender finished after the restart" "$?" "0"
sleep 1
same "all 2000 arrived across a hub restart" "$(count_unique "$WORK/restart")" "2000"
echo "hub restart: $(count_all "$WORK/restart") deliveries for 2000 messages"
kill $COLLECTOR

# ---- kill -9 of the sender in the middle; a new run sends the rest ----
# Some messages get through, then the broker is frozen so that the rest stay
# accepted but unacknowledged, the sender is killed, the broker thaws and a
# new run must deliver everything the killed one accepted.
collector kill9
MOSQ=$(pgrep -f "mosquitto -c $D/mosquitto.conf" | head -1)
"$T" send 0 "${C[@]}" --queue-dir "$WORK/q-kill" --timeout 120 - <msgs 2>kill.err &
S=$!
for _ in $(seq 200); do [ "$(count_all "$WORK/kill9")" -ge 300 ] && break; sleep 0.02; done
kill -STOP $MOSQ
# Every line read (send reads stdin unbuffered) and queued before the kill.
for _ in $(seq 1000); do
    pos=$(awk '/^pos:/ {print $2}' /proc/$S/fdinfo/0 2>/dev/null)
    [ "$pos" = "$(stat -c %s msgs)" ] && break
    sleep 0.02
done
sleep 0.5
kill -9 $S
wait $S 2>/dev/null
before=$(count_unique "$WORK/kill9")
kill -CONT $MOSQ
echo "killed with $before of 2000 delivered"
[ "$before" -lt 2000 ] && ok || bad "the kill came too late to test anything"
check "the next run sends what was left" "$T" send 0 "${C[@]}" --queue-dir "$WORK/q-kill" --timeout 120 - </dev/null
sleep 1
same "all 2000 arrived across kill -9" "$(count_unique "$WORK/kill9")" "2000"
echo "kill -9: $(count_all "$WORK/kill9") deliveries for 2000 messages"
kill $COLLECTOR

# ---- the hub freezes (SIGSTOP) in the middle ----
collector frozen
MOSQ=$(pgrep -f "mosquitto -c $D/mosquitto.conf" | head -1)
"$T" send 0 "${C[@]}" --queue-dir "$WORK/q-stop" --keepalive 5 --timeout 120 - <msgs 2>stop.err &
S=$!
track_pid $S
for _ in $(seq 200); do [ "$(count_all "$WORK/frozen")" -ge 400 ] && break; sleep 0.05; done
kill -STOP $MOSQ
sleep 8
kill -CONT $MOSQ
wait $S
same "sender finished after the freeze" "$?" "0"
sleep 1
same "all 2000 arrived across a frozen hub" "$(count_unique "$WORK/frozen")" "2000"
echo "freeze: $(count_all "$WORK/frozen") deliveries for 2000 messages; $(grep -c 'retrying' stop.err) retries"
kill $COLLECTOR

# ---- bad input ----
refuse "send qos 2" 2 "--qos is 0 or 1" "$T" send 0 "${C[@]}" --qos 2 x
refuse "send without message" 2 "missing MESSAGE" "$T" send 0 "${C[@]}"
refuse "send bad prop" 2 "key=value" "$T" send 0 "${C[@]}" --prop novalue x
refuse "send to an empty slot" 1 "empty" "$T" send 9 "${C[@]}" x

stop_hub
summary
