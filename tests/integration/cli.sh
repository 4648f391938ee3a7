#!/usr/bin/env bash
# The tpmiot command against a private swtpm: help, errors, every command.
. "$(dirname "$0")/lib.sh"
start_tpm
T=$TPMIOT
cd "$WORK"

# --help everywhere, exit 0, on stdout.
for c in "" "tpm" "simulator" "slot" "token" "hmac" "verify" "slot provision" "simulator start"; do
    # shellcheck disable=SC2086
    if $T $c --help >out 2>err && grep -q '^usage: tpmiot' out && [ ! -s err ]; then ok; else bad "--help for '$c'"; fi
done
check "--version" $T --version
refuse "no command" 2 "missing command" $T
refuse "unknown command" 2 "unknown command 'frobnicate'" $T frobnicate
refuse "slot without subcommand" 2 "missing subcommand" $T slot
refuse "slot bad subcommand" 2 "unknown subcommand" $T slot eat
refuse "slot out of range" 2 "0 to 9" $T slot show 10
refuse "slot not a number" 2 "0 to 9" $T slot show x
refuse "slot negative" 2 "0 to 9|unknown" $T slot show -1
refuse "token without slot" 2 "missing slot" $T token
refuse "token bad ttl" 2 "--ttl" $T token 0 --ttl 0
refuse "token ttl text" 2 "--ttl" $T token 0 --ttl 1h
refuse "token expiry past" 2 "in the past" $T token 0 --expiry 1000
refuse "token ttl and expiry" 2 "exclude" $T token 0 --ttl 5 --expiry 99999999999
refuse "token unknown option" 2 "unknown" $T token 0 --bogus
refuse "provision without key" 2 "--key-file" $T slot provision 0 --host h.example
refuse "provision key on argv" 2 "unknown option.*'--key'" $T slot provision 0 --host h.example --key abc
refuse "no abbreviations" 2 "unknown option.*'--key'" $T slot provision 0 --host h.example --key=SECRET
grep -q SECRET err && bad "option value echoed" || ok
refuse "module without device" 2 "needs --device-id" $T slot provision 0 --host h.example --module-id m --key-file k
refuse "options on list" 2 "only .provision." $T slot list --host h
refuse "empty slot token" 1 "empty" $T token 5
refuse "missing key file" 1 "cannot open nofile" $T slot provision 0 --host h.example --device-id d --key-file nofile

# Provision from a key file and from a connection string on stdin.
head -c 32 /dev/urandom >key.bin
base64 <key.bin >key.b64
check "provision from key file" $T slot provision 0 --host hub.example.net --device-id dev-0 --key-file key.b64
KEY=$(cat key.b64)
printf 'HostName=hub.example.net;DeviceId=dev-1;ModuleId=mod-1;SharedAccessKey=%s\n' "$KEY" >cs
check "provision from connection string on stdin" sh -c "$T slot provision 1 --connection-string-file - <cs"
check "slot list" $T slot list
grep -qE '^0 +provisioned +yes +hub.example.net +dev-0$' out && ok || bad "list row 0: $(sed -n 2p out)"
grep -qE '^1 +provisioned +yes +hub.example.net +dev-1/mod-1$' out && ok || bad "list row 1: $(sed -n 3p out)"
grep -qE '^2 +empty +no' out && ok || bad "list row 2"
check "slot list --json" $T --json slot list
[ "$(wc -l <out)" = 1 ] && grep -q '"slots":\[{"slot":0,"keyPresent":true' out && ok || bad "list json: $(cat out)"
check "slot show" $T slot show 1 --json
grep -q '"moduleId":"mod-1"' out && ok || bad "show json: $(cat out)"

# Bad keys are refused and change nothing.
head -c 15 /dev/urandom | base64 >short.b64
head -c 65 /dev/urandom | base64 >long.b64
echo 'not base64!' >junk.b64
refuse "15-byte key" 1 "16 to 64" $T slot provision 0 --host other.example --device-id x --key-file short.b64
refuse "65-byte key" 1 "16 to 64" $T slot provision 0 --host other.example --device-id x --key-file long.b64
refuse "bad base64" 1 "16 to 64" $T slot provision 0 --host other.example --device-id x --key-file junk.b64
refuse "bad host" 1 "invalid hostname" $T slot provision 0 --host 'bad host' --device-id x --key-file key.b64
refuse "bad device id" 1 "invalid device id" $T slot provision 0 --host h.example --device-id 'a/b' --key-file key.b64
printf 'HostName=h;DeviceId=d;DeviceId=e;SharedAccessKey=%s' "$KEY" >dup
refuse "duplicate field" 1 "repeats" $T slot provision 0 --connection-string-file dup
printf 'HostName=h;DeviceId=d' >nokey
refuse "no key in connection string" 1 "lacks" $T slot provision 0 --connection-string-file nokey
check "slot 0 unchanged" $T --json slot show 0
grep -q '"hostname":"hub.example.net","deviceId":"dev-0"' out && ok || bad "slot 0 changed: $(cat out)"

# The key is never printed again.
for args in "slot list" "slot show 0" "--json slot list" "--json slot show 1" "token 0" "token 1 --connection-string"; do
    # shellcheck disable=SC2086
    $T $args >out 2>&1
    if grep -qF "$KEY" out; then bad "key printed by '$args'"; else ok; fi
done

# Tokens: one line, verifiable with the key, both sr forms, options.
check "token" $T token 0
[ "$(wc -l <out)" = 1 ] && grep -qE '^SharedAccessSignature sr=hub.example.net/devices/dev-0&sig=[A-Za-z0-9%]+&se=[0-9]+$' out && ok || bad "token shape: $(cat out)"
cp out tok
check "verify token" sh -c "$T verify --key-file key.b64 <tok"
check "token encoded" $T token 1 --encoded-resource --ttl 60
grep -q '^SharedAccessSignature sr=hub.example.net%2Fdevices%2Fdev-1%2Fmodules%2Fmod-1&sig=' out && ok || bad "encoded: $(cat out)"
cp out enc
check "verify encoded token" $T verify --key-file key.b64 --token-file enc
check "token with policy" $T token 0 --policy registryRead --expiry 4000000000
grep -qE '&skn=registryRead&se=4000000000$' out && ok || bad "policy: $(cat out)"
check "connection string" $T token 0 --connection-string
grep -qE '^HostName=hub.example.net;DeviceId=dev-0;SharedAccessSignature=SharedAccessSignature sr=' out && ok || bad "cs: $(cat out)"
check "token json" $T --json token 0
grep -qE '^\{"token":"SharedAccessSignature sr=' out && ok || bad "token json: $(cat out)"
head -c 32 /dev/urandom | base64 >wrong.b64
refuse "verify wrong key" 1 "does not match" sh -c "$T verify --key-file wrong.b64 <tok"
sed 's/se=[0-9]*/se=1000/' tok >old
refuse "verify tampered expiry" 1 "does not match" $T verify --key-file key.b64 --token-file old

# HMAC through the CLI equals OpenSSL's.
for n in 1 1024 1025 100000; do
    head -c $n /dev/urandom >data
    check "hmac $n" $T hmac 0 --file data
    same "hmac $n bytes" "$(cat out)" "$(openssl_hmac key.bin data)"
done
check "hmac stdin" sh -c "printf abc | $T hmac 0"
printf abc >abc
same "hmac stdin" "$(cat out)" "$(openssl_hmac key.bin abc)"

# Destroy.
check "destroy" $T slot destroy 1
check "destroyed slot is empty" $T --json slot show 1
grep -q '"keyPresent":false,"uriPresent":false' out && ok || bad "after destroy: $(cat out)"
refuse "token after destroy" 1 "empty" $T token 1

# The simulator: idempotent start, mode 0600, status, restart keeps slots.
A=$($T simulator start --state "$WORK/tpm")
B=$($T simulator start --state "$WORK/tpm")
same "start is idempotent" "$A" "$B"
same "start prints the tcti" "$A" "swtpm:path=$WORK/tpm/sock"
same "socket mode" "$(stat -c %a "$WORK/tpm/sock")" "600"
same "state dir mode" "$(stat -c %a "$WORK/tpm")" "700"
check "status running" $T simulator status --state "$WORK/tpm"
check "stop" $T simulator stop --state "$WORK/tpm"
rc=0; $T simulator status --state "$WORK/tpm" >/dev/null || rc=$?
same "status after stop" "$rc" "3"
refuse "no TPM behind the tcti" 1 "could not connect" $T slot list
check "start again" $T simulator start --state "$WORK/tpm"
check "slot 0 survives restart" $T --json slot show 0
grep -q '"deviceId":"dev-0"' out && ok || bad "after restart: $(cat out)"
check "token after restart" sh -c "$T token 0 | $T verify --key-file key.b64"

# The default simulator directory, and the error when there is no TPM at all.
check "default start" env -u TPMIOT_TCTI $T simulator start
same "default dir from XDG_STATE_HOME" "$(cat out)" "swtpm:path=$XDG_STATE_HOME/tpmiot/swtpm/sock"
check "found without --tcti" env -u TPMIOT_TCTI $T tpm info
grep -q 'software TPM: yes' out && ok || bad "tpm info: $(cat out)"
check "default stop" env -u TPMIOT_TCTI $T simulator stop
if [ ! -e /dev/tpmrm0 ]; then
    refuse "no TPM found" 1 "tpmiot simulator start" env -u TPMIOT_TCTI $T slot list
else
    echo "note: /dev/tpmrm0 exists; the no-TPM message is covered by the unit test only" >&2
fi

summary
