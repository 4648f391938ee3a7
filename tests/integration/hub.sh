#!/usr/bin/env bash
# tpmiot-hub end to end: a real mosquitto with our plugin, real TLS, clients we
# did not write (mosquitto_pub/sub, curl) and a device whose key is in swtpm.
. "$(dirname "$0")/lib.sh"
HUB=${TPMIOT_HUB:?}
SIGN=${SAS_SIGN:?}
T=$TPMIOT
start_tpm
cd "$WORK"
D="$WORK/hub"
HOST=hub.test.local
NOW=$(date +%s)
E=$((NOW + 3600))

# ---- init ----
check "init" "$HUB" --dir "$D" init --hostname "$HOST"
grep -qE "^HostName=$HOST;SharedAccessKeyName=iothubowner;SharedAccessKey=[A-Za-z0-9+/]{43}=$" out && ok || bad "owner cs: $(cat out)"
same "hub dir mode" "$(stat -c %a "$D")" "700"
same "registry mode" "$(stat -c %a "$D/registry.db")" "600"
same "ca key mode" "$(stat -c %a "$D/ca.key")" "600"
refuse "init refuses an existing hub" 1 "refusing to overwrite" "$HUB" --dir "$D" init --hostname "$HOST"
refuse "init bad hostname" 2 "not a valid hostname" "$HUB" --dir "$WORK/x" init --hostname 'bad host'
check "server cert names the host" openssl x509 -in "$D/server.crt" -noout -ext subjectAltName
grep -q "DNS:$HOST" out && grep -q "IP Address:127.0.0.1" out && ok || bad "SAN: $(cat out)"
check "server cert chains to the CA" openssl verify -CAfile "$D/ca.crt" "$D/server.crt"

# ---- run ----
start_hub
refuse "run refuses a taken port" 1 "already in use" "$HUB" --dir "$D" run --bind 127.0.0.1 --mqtt-port $MQTT --rest-port $((BASE + 3))
refuse "run without a hub" 1 "no hub" "$HUB" --dir "$WORK/nohub" run

# ---- devices over REST, through our admin commands ----
for d in dev1 dev2 off rot gone dev3 dev4 tpmdev; do
    check "create $d" "$HUB" --dir "$D" device create $d
done
check "create module" "$HUB" --dir "$D" device create dev1 --module mod1
grep -q '"moduleId":	"mod1"' out && ok || bad "module json: $(cat out)"
grep -q '"primaryKey":	"(hidden)"' out && ok || bad "keys not hidden"
refuse "create existing" 1 "409 DeviceAlreadyExists" "$HUB" --dir "$D" device create dev1
refuse "create bad id" 2 "invalid device id" "$HUB" --dir "$D" device create 'a/b'
key_of() { "$HUB" --dir "$D" device connection-string "$@" | sed 's/.*SharedAccessKey=//'; }
K1=$(key_of dev1) K2=$(key_of dev2) KOFF=$(key_of off) KGONE=$(key_of gone) KM=$(key_of dev1 --module mod1)
K1S=$(key_of dev1 --secondary)
KROT_OLD=$(key_of rot)
check "disable" "$HUB" --dir "$D" device disable off
check "delete" "$HUB" --dir "$D" device delete gone
check "rotate" "$HUB" --dir "$D" device rotate-key rot
KROT=$(key_of rot)
[ "$KROT" != "$KROT_OLD" ] && ok || bad "rotate-key kept the key"
check "list" "$HUB" --dir "$D" device list
grep -qE '^off +disabled' out && ok || bad "list: $(cat out)"
grep -q '^gone' out && bad "deleted device listed" || ok
# The TPM device: its key goes into slot 0 and never comes back out.
check "provision slot 0" sh -c "'$HUB' --dir '$D' device connection-string tpmdev | '$T' slot provision 0 --connection-string-file -"

# ---- the CONNECT matrix, through the real broker over TLS ----
U() { echo "$HOST/$1/?api-version=2021-04-12"; }
S() { "$SIGN" "$@"; }
connect() { # client user password: publishes one message; prints the client's output
    mosquitto_pub -h 127.0.0.1 -p $MQTT --cafile "$D/ca.crt" -V mqttv311 -i "$1" -u "$2" -P "$3" \
        -t "devices/probe/messages/events/" -m probe -q 1 2>&1
}
OWNER=$("$HUB" --dir "$D" token --policy iothubowner)
SVC=$("$HUB" --dir "$D" token --policy service)
RR=$("$HUB" --dir "$D" token --policy registryRead)
TAMPERED=$(S "$K1" $HOST dev1 - $E raw - | sed 's/sig=./sig=A/; s/sig=AA/sig=BA/')
BIG="SharedAccessSignature sr=$(head -c 3000 /dev/zero | tr '\0' a)&sig=x&se=1"
refused=0
while IFS='|' read -r what client user pass; do
    [ -z "$what" ] && continue
    out=$(connect "$client" "$user" "$pass")
    if grep -q "not authorised" <<<"$out"; then ok; refused=$((refused + 1)); else bad "CONNECT should fail: $what: $out"; fi
done <<EOF2
expired|dev1|$(U dev1)|$(S "$K1" $HOST dev1 - $((NOW - 1000)) raw -)
expiry 400 days ahead|dev1|$(U dev1)|$(S "$K1" $HOST dev1 - $((NOW + 400 * 86400)) raw -)
tampered signature|dev1|$(U dev1)|$TAMPERED
another device's key|dev1|$(U dev1)|$(S "$K2" $HOST dev1 - $E raw -)
wrong hostname in username|dev1|other.example/dev1/?api-version=1|$(S "$K1" $HOST dev1 - $E raw -)
wrong hostname in token|dev1|$(U dev1)|$(S "$K1" other.example dev1 - $E raw -)
sr for another device|dev1|$(U dev1)|$(S "$K2" $HOST dev2 - $E raw -)
client id is not the device|dev2|$(U dev1)|$(S "$K1" $HOST dev1 - $E raw -)
disabled|off|$(U off)|$(S "$KOFF" $HOST off - $E raw -)
deleted|gone|$(U gone)|$(S "$KGONE" $HOST gone - $E raw -)
unknown device|ghost|$(U ghost)|$(S "$K1" $HOST ghost - $E raw -)
old key after rotation|rot|$(U rot)|$(S "$KROT_OLD" $HOST rot - $E raw -)
policy token as a device|dev1|$(U dev1)|$OWNER
device token as a service|svc#x|service@$HOST|$(S "$K1" $HOST dev1 - $E raw -)
registryRead as a service|svc#x|service@$HOST|$RR
service with a device client id|dev1|service@$HOST|$SVC
malformed token|dev1|$(U dev1)|SharedAccessSignature sr=x&sig=y
not a token|dev1|$(U dev1)|hunter2
oversized token|dev1|$(U dev1)|$BIG
injection in id|dev1' OR 1=1|$(U "dev1' OR 1=1")|$(S "$K1" $HOST dev1 - $E raw -)
wildcard id|+|$(U +)|$(S "$K1" $HOST dev1 - $E raw -)
module with the device key|dev1/mod1|$HOST/dev1/mod1/?api-version=1|$(S "$K1" $HOST dev1 mod1 $E raw -)
device token for a module|dev1/mod1|$HOST/dev1/mod1/?api-version=1|$(S "$K1" $HOST dev1 - $E raw -)
sr differs in case|dev1|$(U dev1)|$(S "$K1" $HOST DEV1 - $E raw -)
empty username|dev1||$(S "$K1" $HOST dev1 - $E raw -)
EOF2
# No password at all, and an empty one.
connect dev1 "$(U dev1)" "" | grep -q "not authorised" && { ok; refused=$((refused + 1)); } || bad "empty password accepted"
mosquitto_pub -h 127.0.0.1 -p $MQTT --cafile "$D/ca.crt" -V mqttv311 -i dev1 -u "$(U dev1)" -t x -m x 2>&1 | grep -q "not authorised" && { ok; refused=$((refused + 1)); } || bad "no password accepted"
[ $refused -ge 25 ] && ok || bad "only $refused refused CONNECTs"
echo "CONNECT attempts refused by the broker: $refused"
# Each refusal is one log line with a reason and no secret.
same "one log line per refusal" "$(grep -c 'tpmiot: refused client' "$WORK/hub.log")" "$refused"
grep 'tpmiot: refused' "$WORK/hub.log" | grep -qE 'sig=|SharedAccessSignature|'"${K1:0:20}" && bad "secret in the log" || ok
grep -q "refused client 'dev1' user '$HOST/dev1/?api-version=2021-04-12' from 127.0.0.1: token expired" "$WORK/hub.log" && ok || bad "log line lacks the reason"

while IFS='|' read -r what client user pass; do
    [ -z "$what" ] && continue
    out=$(connect "$client" "$user" "$pass")
    if [ -z "$out" ]; then ok; else bad "CONNECT should pass: $what: $out"; fi
done <<EOF2
primary key raw sr|dev1|$(U dev1)|$(S "$K1" $HOST dev1 - $E raw -)
secondary key|dev1|$(U dev1)|$(S "$K1S" $HOST dev1 - $E raw -)
encoded sr|dev1|$(U dev1)|$(S "$K1" $HOST dev1 - $E enc -)
DeviceClientType in username|dev1|$HOST/dev1/?api-version=2021-04-12&DeviceClientType=test%2F1|$(S "$K1" $HOST dev1 - $E raw -)
module with its key|dev1/mod1|$HOST/dev1/mod1/?api-version=1|$(S "$KM" $HOST dev1 mod1 $E enc -)
rotated key|rot|$(U rot)|$(S "$KROT" $HOST rot - $E raw -)
token from the TPM slot|tpmdev|$(U tpmdev)|$("$T" token 0)
token from the TPM, encoded sr|tpmdev|$(U tpmdev)|$("$T" token 0 --encoded-resource)
EOF2

# ---- the access matrix: two devices and a service ----
T1=$(S "$K1" $HOST dev1 - $E raw -)
T2=$(S "$K2" $HOST dev2 - $E raw -)
sub() { # client user pass topic -> SUBACK granted qos, or "denied"
    mosquitto_sub -h 127.0.0.1 -p $MQTT --cafile "$D/ca.crt" -V mqttv311 -i "$1" -u "$2" -P "$3" \
        -t "$4" -q "${5:-1}" -d -W 1 -C 1 2>&1 | sed -n 's/.*Subscribed (mid: [0-9]*): \([0-9]*\).*/\1/p' | head -1
}
while IFS='|' read -r who topic want; do
    [ -z "$who" ] && continue
    case $who in
    dev1) got=$(sub dev1 "$(U dev1)" "$T1" "$topic") ;;
    dev2) got=$(sub dev2 "$(U dev2)" "$T2" "$topic") ;;
    svc) got=$(sub "svc#acl" "service@$HOST" "$SVC" "$topic") ;;
    esac
    same "subscribe $who $topic" "$got" "$want"
done <<EOF2
dev1|devices/dev1/messages/devicebound/#|1
dev1|devices/dev2/messages/devicebound/#|128
dev1|devices/+/messages/devicebound/#|128
dev1|devices/#|128
dev1|#|128
dev1|devices/dev1/messages/events/#|128
dev1|\$iothub/twin/res/#|128
dev2|devices/dev2/messages/devicebound/#|1
dev2|devices/dev1/messages/devicebound/#|128
svc|devices/+/messages/events/#|1
svc|devices/dev2/messages/events/#|1
svc|devices/+/messages/devicebound/#|128
svc|#|128
EOF2
same "QoS 2 subscribe is granted QoS 1" "$(sub dev1 "$(U dev1)" "$T1" devices/dev1/messages/devicebound/# 2)" "1"

# Publishes: the service listens to every device; only allowed messages arrive.
mosquitto_sub -h 127.0.0.1 -p $MQTT --cafile "$D/ca.crt" -V mqttv311 -i "svc#watch" -u "service@$HOST" \
    -P "$SVC" -t 'devices/+/messages/events/#' -t 'devices/+/messages/devicebound/#' -q 1 -v >"$WORK/watch" 2>&1 &
track_pid $!
mosquitto_sub -h 127.0.0.1 -p $MQTT --cafile "$D/ca.crt" -V mqttv311 -i dev2 -u "$(U dev2)" \
    -P "$T2" -t 'devices/dev2/messages/devicebound/#' -q 1 -v >"$WORK/dev2-c2d" 2>&1 &
track_pid $!
sleep 1
pub() { mosquitto_pub -h 127.0.0.1 -p $MQTT --cafile "$D/ca.crt" -V mqttv311 -i "$1" -u "$2" -P "$3" -t "$4" -m "$5" -q 1 2>&1; }
pub dev1 "$(U dev1)" "$T1" 'devices/dev1/messages/events/k=v' allowed-own-events
pub dev1 "$(U dev1)" "$T1" 'devices/dev2/messages/events/' denied-other-events
pub dev1 "$(U dev1)" "$T1" 'devices/dev2/messages/devicebound/x' denied-c2d-to-other
pub dev1 "$(U dev1)" "$T1" 'devices/dev1/messages/devicebound/x' denied-c2d-to-self
pub dev1 "$(U dev1)" "$T1" 'elsewhere' denied-other-topic
pub "svc#p" "service@$HOST" "$SVC" 'devices/dev2/messages/devicebound/a=b' allowed-c2d
pub "svc#p" "service@$HOST" "$SVC" 'devices/dev2/messages/events/' denied-service-events
sleep 1.5
for m in allowed-own-events allowed-c2d; do grep -q "$m" "$WORK/watch" "$WORK/dev2-c2d" && ok || bad "publish should arrive: $m"; done
for m in denied-other-events denied-c2d-to-other denied-c2d-to-self denied-other-topic denied-service-events; do
    grep -q "$m" "$WORK/watch" "$WORK/dev2-c2d" && bad "publish should be dropped: $m" || ok
done
grep -q 'devices/dev2/messages/devicebound/a=b allowed-c2d' "$WORK/dev2-c2d" && ok || bad "dev2 did not get its c2d: $(cat "$WORK/dev2-c2d")"
# The registry shows who is connected, and since when.
"$HUB" --dir "$D" device show dev2 >"$WORK/dev2.json"
grep -q '"connectionState":	"Connected"' "$WORK/dev2.json" && ok || bad "dev2 not shown connected: $(cat "$WORK/dev2.json")"
grep -q '"connectionStateUpdatedTime":	"0001-' "$WORK/dev2.json" && bad "no connection time" || ok
"$HUB" --dir "$D" device show dev4 >"$WORK/dev4.json"
grep -q '"connectionState":	"Disconnected"' "$WORK/dev4.json" && ok || bad "dev4 shown connected"
# QoS 2 publish closes the connection.
out=$(mosquitto_pub -h 127.0.0.1 -p $MQTT --cafile "$D/ca.crt" -V mqttv311 -i dev1 -u "$(U dev1)" -P "$T1" -t devices/dev1/messages/events/ -m q2 -q 2 2>&1)
[ -n "$out" ] && ok || bad "QoS 2 publish was accepted"
sleep 0.5
grep -q q2 "$WORK/watch" && bad "QoS 2 message delivered" || ok
# The plain listener asks for the same credentials.
mosquitto_pub -h 127.0.0.1 -p $PLAIN -V mqttv311 -i dev1 -u "$(U dev1)" -P bad -t x -m x 2>&1 | grep -q "not authorised" && ok || bad "plain listener without auth"

# ---- the monitor ----
"$HUB" --dir "$D" --json monitor --count 1 --timeout 10 >"$WORK/mon" 2>"$WORK/mon.err" &
MON=$!
track_pid $MON
sleep 1
pub dev1 "$(U dev1)" "$T1" 'devices/dev1/messages/events/temp=21.5&%24.mid=m-1&%24.ct=text%2Fplain&sp%20ace=a%26b%3Dc%2Fd' 'héllo world'
wait $MON
same "monitor exit" "$?" "0"
same "monitor json" "$(cat "$WORK/mon")" '{"deviceId":"dev1","properties":{"temp":"21.5","$.mid":"m-1","$.ct":"text/plain","sp ace":"a&b=c/d"},"payload":"héllo world"}'

# ---- REST authorization matrix, with curl ----
rest() { # method path token [body] -> status
    local auth=()
    [ -n "$3" ] && auth=(-H "Authorization: $3")
    curl -s -o "$WORK/body" -w '%{http_code}' --cacert "$D/ca.crt" -X "$1" "${auth[@]}" \
        -H 'Content-Type: application/json' ${4:+--data-binary "$4"} \
        "https://127.0.0.1:$REST$2?api-version=2021-04-12"
}
RW=$("$HUB" --dir "$D" token --policy registryReadWrite)
EXPIRED=$(S "$(sqlite3 "$D/registry.db" "select primary_key from policies where name='iothubowner'" 2>/dev/null || echo AAAAAAAAAAAAAAAAAAAAAA==)" $HOST - - $((NOW - 1000)) raw iothubowner)
while IFS='|' read -r method path tok body want; do
    [ -z "$method" ] && continue
    case $tok in owner) t=$OWNER ;; svc) t=$SVC ;; rr) t=$RR ;; rw) t=$RW ;; none) t= ;; bad) t="${OWNER%?}x" ;; dev) t=$T1 ;; *) t=$tok ;; esac
    same "$method $path as $tok" "$(rest "$method" "$path" "$t" "$body")" "$want"
done <<EOF2
GET|/devices/dev1|owner||200
GET|/devices/dev1|rr||200
GET|/devices/dev1|rw||200
GET|/devices/dev1|svc||403
GET|/devices/dev1|none||401
GET|/devices/dev1|bad||401
GET|/devices/dev1|dev||401
GET|/devices|rr||200
GET|/devices|svc||403
PUT|/devices/new1|rw|{"deviceId":"new1"}|200
PUT|/devices/new2|rr|{"deviceId":"new2"}|403
PUT|/devices/new3|svc|{"deviceId":"new3"}|403
PUT|/devices/new4|owner|{"deviceId":"new4"}|200
DELETE|/devices/new4|rr||403
DELETE|/devices/new4|rw||204
POST|/devices/dev2/messages/devicebound|svc|hi|204
POST|/devices/dev2/messages/devicebound|rw|hi|403
POST|/devices/dev2/messages/devicebound|owner|hi|204
GET|/devices/nosuch|owner||404
POST|/devices/nosuch/messages/devicebound|svc|hi|404
EOF2
same "expired token" "$(rest GET /devices/dev1 "$EXPIRED")" "401"
rest GET /devices/nosuch "$OWNER" >/dev/null
grep -q '"Message":"ErrorCode:DeviceNotFound;' "$WORK/body" && ok || bad "404 body: $(cat "$WORK/body")"
rest GET /devices/dev1 "$OWNER" >/dev/null
for f in deviceId generationId etag status statusReason connectionState connectionStateUpdatedTime lastActivityTime cloudToDeviceMessageCount; do
    grep -q "\"$f\":" "$WORK/body" && ok || bad "device JSON lacks $f"
done
grep -q '"authentication":{"symmetricKey":{"primaryKey":"' "$WORK/body" && grep -q '"type":"sas"' "$WORK/body" && ok || bad "authentication shape"
grep -q '"cloudToDeviceMessageCount":0' "$WORK/body" && ok || bad "dev1 c2d count"
# Bad input is refused and changes nothing.
ETAG=$(rest GET /devices/dev1 "$OWNER" >/dev/null; sed 's/.*"etag":"\([^"]*\)".*/\1/' "$WORK/body")
same "invalid id" "$(rest PUT '/devices/bad%23id' "$OWNER" '{}')" "400"
same "not JSON" "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$D/ca.crt" -X PUT -H "Authorization: $OWNER" -H "If-Match: *" --data 'not json' "https://127.0.0.1:$REST/devices/dev1")" "400"
same "wrong type" "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$D/ca.crt" -X PUT -H "Authorization: $OWNER" -H "If-Match: *" --data '{"status":5}' "https://127.0.0.1:$REST/devices/dev1")" "400"
same "bad key" "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$D/ca.crt" -X PUT -H "Authorization: $OWNER" -H "If-Match: *" --data '{"authentication":{"symmetricKey":{"primaryKey":"c2hvcnQ="}}}' "https://127.0.0.1:$REST/devices/dev1")" "400"
head -c 70000 /dev/zero | tr '\0' ' ' >"$WORK/big.json"
same "oversized body" "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$D/ca.crt" -X PUT -H "Authorization: $OWNER" -H "If-Match: *" --data-binary @"$WORK/big.json" "https://127.0.0.1:$REST/devices/dev1")" "413"
same "stale etag" "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$D/ca.crt" -X PUT -H "Authorization: $OWNER" -H 'If-Match: "Nw=="' --data '{}' "https://127.0.0.1:$REST/devices/dev1")" "412"
rest GET /devices/dev1 "$OWNER" >/dev/null
same "nothing changed" "$(sed 's/.*"etag":"\([^"]*\)".*/\1/' "$WORK/body")" "$ETAG"
same "key unchanged" "$(key_of dev1)" "$K1"
# Admin errors a user will hit.
refuse "untrusted certificate" 1 "not trusted" "$HUB" --dir "$D" device show dev1 --ca-file /etc/ssl/certs/ca-certificates.crt
printf 'HostName=%s;SharedAccessKeyName=registryRead;SharedAccessKey=%s\n' $HOST "$(sqlite3 "$D/registry.db" "select primary_key from policies where name='registryRead'")" >"$WORK/rr.cs"
refuse "policy lacks permission" 1 "403" "$HUB" --dir "$D" device create x1 --connection-string-file "$WORK/rr.cs"

# ---- live sessions end when the device is disabled, rotated or deleted ----
watch_kick() { # device key action...: seconds from the action until the session ends
    local dev=$1 key=$2 pid t0 t1
    shift 2
    mosquitto_sub -h 127.0.0.1 -p $MQTT --cafile "$D/ca.crt" -V mqttv311 -i "$dev" -u "$(U "$dev")" \
        -P "$(S "$key" $HOST "$dev" - $E raw -)" -t "devices/$dev/messages/devicebound/#" -q 1 >/dev/null 2>&1 &
    pid=$!
    track_pid $pid
    sleep 1
    kill -0 $pid 2>/dev/null || { echo "gone before"; return; }
    t0=$EPOCHREALTIME
    "$@" >/dev/null 2>&1
    for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
    t1=$EPOCHREALTIME
    if kill -0 $pid 2>/dev/null; then echo "still connected"; kill $pid; return; fi
    echo "$t1 - $t0 < 1.5" | bc -l
}
same "disable drops the session within a second" "$(watch_kick dev3 "$(key_of dev3)" "$HUB" --dir "$D" device disable dev3)" "1"
same "rotate drops the session within a second" "$(watch_kick dev4 "$(key_of dev4)" "$HUB" --dir "$D" device rotate-key dev4)" "1"
same "delete drops the session within a second" "$(watch_kick dev2 "$K2" "$HUB" --dir "$D" device delete dev2)" "1"
grep -q 'tpmiot: disconnecting d:dev3: registry changed' "$WORK/hub.log" && ok || bad "no disconnect log line"

# ---- cloud-to-device queued for an offline device survives a hub restart ----
TK=$(S "$(key_of dev1)" $HOST dev1 - $E raw -)
mosquitto_sub -h 127.0.0.1 -p $MQTT --cafile "$D/ca.crt" -V mqttv311 -i dev1 -c -u "$(U dev1)" -P "$TK" \
    -t 'devices/dev1/messages/devicebound/#' -q 1 -W 1 >/dev/null 2>&1
for i in 1 2 3; do check "c2d while offline $i" "$HUB" --dir "$D" c2d send dev1 --prop n=$i "queued-$i"; done
stop_hub
same "hub stops cleanly on SIGTERM" "$HUBRC" "0"
[ ! -f "$D/run.json" ] && ok || bad "run.json left"
pgrep -f "mosquitto -c $D/mosquitto.conf" >/dev/null && bad "mosquitto left running" || ok
start_hub
mosquitto_sub -h 127.0.0.1 -p $MQTT --cafile "$D/ca.crt" -V mqttv311 -i dev1 -c -u "$(U dev1)" -P "$TK" \
    -t 'devices/dev1/messages/devicebound/#' -q 1 -v -C 3 -W 5 >"$WORK/queued" 2>&1
same "three queued messages after the restart" "$(grep -c queued- "$WORK/queued")" "3"
grep -qE '^devices/dev1/messages/devicebound/.*n=2.*%24.mid=[0-9a-f-]+.*%24.to=%2Fdevices%2Fdev1%2Fmessages%2FdeviceBound queued-2$' "$WORK/queued" && ok || bad "c2d topic: $(head -2 "$WORK/queued")"
rest GET /devices/dev1 "$OWNER" >/dev/null
grep -q '"cloudToDeviceMessageCount":3' "$WORK/body" && ok || bad "c2d count: $(cat "$WORK/body")"
stop_hub

summary
