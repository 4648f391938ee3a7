#!/usr/bin/env bash
# tpmiot provision against a running tpmiot-hub: create + imprint + verify,
# an existing device, a device connection string, and the errors a user hits.
. "$(dirname "$0")/lib.sh"
HUB=${TPMIOT_HUB:?}
T=$TPMIOT
start_tpm
cd "$WORK"
D="$WORK/hub"
HOST=prov.test.local
"$HUB" --dir "$D" init --hostname $HOST >owner.cs 2>/dev/null || exit 1
start_hub
# Like refuse, for commands that report their steps: the last line says why.
refuse_last() {
    local what=$1 want=$2 pat=$3 rc=0; shift 3
    "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
    if [ "$rc" != "$want" ]; then bad "$what: exit $rc, want $want: $(tail -2 "$WORK/err")"; return; fi
    if ! tail -1 "$WORK/err" | grep -qE -- "$pat"; then bad "$what: '$(tail -1 "$WORK/err")' lacks '$pat'"; return; fi
    if [ -s "$WORK/out" ]; then bad "$what: printed on stdout"; return; fi
    ok
}
O=(--ca-file "$D/ca.crt" --gateway-host 127.0.0.1 --rest-port "$REST" --mqtt-port "$MQTT")
sqlite3 "$D/registry.db" "select primary_key from policies where name='registryRead'" >rr.key
printf 'HostName=%s;SharedAccessKeyName=registryRead;SharedAccessKey=%s\n' $HOST "$(cat rr.key)" >rr.cs

check "create + imprint + verify" "$T" --json provision 0 --hub-connection-string-file owner.cs --device-id p1 --create "${O[@]}"
same "json result" "$(cat out)" '{"slot":0,"hostname":"prov.test.local","deviceId":"p1","created":true,"verified":true}'
for n in 1 2 3 4; do grep -q "\[$n/4\]" err && ok || bad "step $n not reported: $(cat err)"; done
KEY=$("$HUB" --dir "$D" device connection-string p1 | sed 's/.*SharedAccessKey=//')
grep -qF "$KEY" out err && bad "the key was printed" || ok
check "slot holds p1" "$T" --json slot show 0
grep -q '"hostname":"prov.test.local","deviceId":"p1"' out && ok || bad "slot: $(cat out)"
check "its token works" sh -c "'$T' token 0 >tok && '$HUB' --dir '$D' device connection-string p1 | sed 's/.*SharedAccessKey=//' >p1.key && '$T' verify --key-file p1.key --token-file tok"

check "existing device" "$HUB" --dir "$D" device create p2
check "fetch + imprint + verify" "$T" provision 1 --hub-connection-string-file owner.cs --device-id p2 "${O[@]}"
grep -q 'fetched from hub' err && ok || bad "not fetched: $(cat err)"
refuse_last "create over an existing device" 1 "409: the device exists already" "$T" provision 2 --hub-connection-string-file owner.cs --device-id p2 --create "${O[@]}"
refuse_last "slot busy" 1 "slot 1 is busy .*--force" "$T" provision 1 --hub-connection-string-file owner.cs --device-id p2 "${O[@]}"
check "--force replaces" "$T" provision 1 --hub-connection-string-file owner.cs --device-id p2 --force "${O[@]}"
refuse_last "unknown device without --create" 1 "404: no such device" "$T" provision 2 --hub-connection-string-file owner.cs --device-id nosuch "${O[@]}"
refuse_last "policy lacks permission" 1 "403: the policy lacks the permission" "$T" provision 2 --hub-connection-string-file rr.cs --device-id p3 --create "${O[@]}"
refuse_last "untrusted certificate" 1 "not trusted.*--ca-file" "$T" provision 2 --hub-connection-string-file owner.cs --device-id p2 --gateway-host 127.0.0.1 --rest-port "$REST" --mqtt-port "$MQTT"
refuse_last "hub unreachable" 1 "cannot reach the hub" "$T" provision 2 --hub-connection-string-file owner.cs --device-id p2 --ca-file "$D/ca.crt" --gateway-host 127.0.0.1 --rest-port 1
"$HUB" --dir "$D" device create p4 >/dev/null
"$HUB" --dir "$D" device disable p4 >/dev/null 2>&1
refuse_last "verify catches a disabled device" 1 "refused the slot's token" "$T" provision 3 --hub-connection-string-file owner.cs --device-id p4 "${O[@]}"
check "--no-verify" "$T" provision 3 --hub-connection-string-file owner.cs --device-id p4 --force --no-verify "${O[@]}"
grep -q 'not verified' err && ok || bad "--no-verify: $(cat err)"

# A device created elsewhere, from its connection string.
"$HUB" --dir "$D" device create p5 >/dev/null
"$HUB" --dir "$D" device connection-string p5 >p5.cs
check "device connection string" "$T" provision 4 --connection-string-file p5.cs "${O[@]}"
grep -q 'verified: connected to prov.test.local as p5' err && ok || bad "p5: $(cat err)"
refuse "both kinds" 2 "give --hub-connection-string-file" "$T" provision 4 --connection-string-file p5.cs --hub-connection-string-file owner.cs --device-id x
refuse "no device id" 2 "needs --device-id" "$T" provision 4 --hub-connection-string-file owner.cs
refuse "bad device id" 2 "invalid device id" "$T" provision 4 --hub-connection-string-file owner.cs --device-id 'a/b'
refuse "no slot" 2 "missing slot" "$T" provision --hub-connection-string-file owner.cs --device-id x
refuse "no TPM" 1 "tpmiot simulator start|could not connect" env TPMIOT_TCTI=swtpm:path=/nonexistent "$T" provision 5 --connection-string-file p5.cs

stop_hub
summary
