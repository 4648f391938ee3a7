#!/usr/bin/env bash
# The device portal: security checks with curl, then the whole page in real
# headless Chromium (tests/browser/portal.mjs). Screenshots: $SHOTS.
BROWSER_DIR=$(cd "$(dirname "$0")/../browser" && pwd)
. "$(dirname "$0")/lib.sh"
T=$TPMIOT
start_tpm
cd "$WORK"
SHOTS=${SHOTS:-$WORK/shots}
mkdir -p "$SHOTS"
PW='a long portal passphrase'
P="$WORK/portal"

refuse "no password yet" 1 "no password set" "$T" portal --state "$P" --listen 127.0.0.1:1
refuse "short password" 2 "at least 10" sh -c "echo short | '$T' portal set-password --state '$P'"
check "set password" sh -c "echo '$PW' | '$T' portal set-password --state '$P'"
same "password file mode" "$(stat -c %a "$P/password")" "600"
grep -q "$PW" "$P/password" && bad "password stored in the clear" || ok
grep -q '^pbkdf2-sha256:200000:' "$P/password" && ok || bad "not a PBKDF2 hash"
refuse "bad listen" 2 "ADDR:PORT" "$T" portal --state "$P" --listen nowhere

for _ in 1 2 3 4 5; do
    PORT=$((20000 + RANDOM % 30000))
    "$T" portal --state "$P" --listen 127.0.0.1:$PORT 2>"$WORK/portal.log" &
    PPID_=$!
    track_pid $PPID_
    for _ in $(seq 50); do grep -q 'tpmiot portal: https://' "$WORK/portal.log" && break; sleep 0.1; done
    grep -q 'tpmiot portal: https://' "$WORK/portal.log" && break
done
U="https://127.0.0.1:$PORT"
CA=(--cacert "$P/cert.pem")
code() { curl -s -o "$WORK/body" -w '%{http_code}' "${CA[@]}" "$@"; }

# Every API path without a session: 401.
for path in /api/session /api/iot/tpm/settings /api/iot/tpm/settings/0 /api/iot/tpm/azuretoken/0; do
    same "GET $path without a session" "$(code "$U$path")" "401"
done
same "POST without a session" "$(code -X POST -d '{}' "$U/api/iot/tpm/settings/1")" "401"
same "DELETE without a session" "$(code -X DELETE "$U/api/iot/tpm/settings/1")" "401"
same "forged cookie" "$(code -b "tpmiot_session=$(printf '%064d' 0)" "$U/api/iot/tpm/settings")" "401"
same "page served" "$(code "$U/")" "200"
grep -q '<title>tpmiot' "$WORK/body" && ok || bad "page"
curl -s -D "$WORK/headers" -o /dev/null "${CA[@]}" "$U/"
grep -qi "content-security-policy: default-src 'none'" "$WORK/headers" && ok || bad "no CSP"
# No external assets: nothing loaded from another origin.
grep -qiE '(src|href|url)\s*[=(]\s*["'"'"']?(https?:)?//' "$WORK/body" && bad "external asset in the page" || ok

# Wrong passwords are slowed down and logged.
t0=$EPOCHREALTIME
same "wrong password" "$(code -X POST -d '{"password":"nope"}' "$U/api/login")" "401"
same "wrong again" "$(code -X POST -d '{"password":"nope2"}' "$U/api/login")" "401"
t1=$EPOCHREALTIME
echo "$t1 - $t0 >= 3" | bc -l | grep -q 1 && ok || bad "failed logins not slowed: $(echo "$t1 - $t0" | bc -l) s"
grep -q 'failed login from 127.0.0.1 (2 in a row)' "$WORK/portal.log" && ok || bad "failed login not logged"
same "login" "$(code -c "$WORK/jar" -X POST -d "{\"password\":\"$PW\"}" "$U/api/login")" "200"
CSRF=$(sed 's/.*"csrf":"\([0-9a-f]*\)".*/\1/' "$WORK/body")
grep -qi 'set-cookie' "$WORK/headers" && bad "cookie on the page" || ok
curl -s -D "$WORK/lh" -o /dev/null "${CA[@]}" -X POST -d "{\"password\":\"$PW\"}" "$U/api/login"
grep -i '^set-cookie' "$WORK/lh" | grep -q 'HttpOnly; Secure; SameSite=Strict' && ok || bad "cookie flags: $(grep -i set-cookie "$WORK/lh")"
J=(-b "$WORK/jar")
H=(-H "X-CSRF-Token: $CSRF")
KEY=$(head -c 32 /dev/urandom | base64)
BODY="{\"AzureUri\":\"$(printf 'sec.example/sec-dev' | base64 -w0)\",\"AzureKey\":\"$(printf '%s' "$KEY" | base64 -w0)\"}"
same "write without CSRF" "$(code "${J[@]}" -X POST -d "$BODY" "$U/api/iot/tpm/settings/1")" "403"
same "write with a wrong CSRF" "$(code "${J[@]}" -H "X-CSRF-Token: $(printf '%064d' 1)" -X POST -d "$BODY" "$U/api/iot/tpm/settings/1")" "403"
same "delete without CSRF" "$(code "${J[@]}" -X DELETE "$U/api/iot/tpm/settings/1")" "403"
same "provision" "$(code "${J[@]}" "${H[@]}" -X POST -d "$BODY" "$U/api/iot/tpm/settings/1")" "200"
same "token" "$(code "${J[@]}" "$U/api/iot/tpm/azuretoken/1?validity=600")" "200"
sed 's/.*"AzureToken":"\([^"]*\)".*/\1/' "$WORK/body" >tok
echo "$KEY" >key.b64
check "portal token verifies" "$T" verify --key-file key.b64 --token-file tok
# Bad input is refused and changes nothing.
big=$(head -c 9000 /dev/zero | tr '\0' a)
same "oversized body" "$(code "${J[@]}" "${H[@]}" -X POST -d "{\"x\":\"$big\"}" "$U/api/iot/tpm/settings/1")" "413"
same "bad base64" "$(code "${J[@]}" "${H[@]}" -X POST -d '{"AzureUri":"!!!","AzureKey":"???"}' "$U/api/iot/tpm/settings/1")" "400"
same "short key" "$(code "${J[@]}" "${H[@]}" -X POST -d "{\"AzureUri\":\"$(printf 'a.b/c' | base64)\",\"AzureKey\":\"$(printf 'c2hvcnQ=' | base64)\"}" "$U/api/iot/tpm/settings/1")" "400"
same "not JSON" "$(code "${J[@]}" "${H[@]}" -X POST -d 'nope' "$U/api/iot/tpm/settings/1")" "400"
same "slot 10" "$(code "${J[@]}" "$U/api/iot/tpm/settings/10")" "400"
same "slot -1" "$(code "${J[@]}" "$U/api/iot/tpm/settings/-1")" "400"
same "slot x" "$(code "${J[@]}" "$U/api/iot/tpm/azuretoken/x")" "400"
same "dot-dot" "$(code "${J[@]}" --path-as-is "$U/api/iot/tpm/settings/../../../etc/passwd")" "400"
same "encoded dot-dot" "$(code "${J[@]}" --path-as-is "$U/api/iot/tpm/settings/%2e%2e/1")" "400"
same "bad validity" "$(code "${J[@]}" "$U/api/iot/tpm/azuretoken/1?validity=abc")" "400"
same "empty slot token" "$(code "${J[@]}" "$U/api/iot/tpm/azuretoken/7")" "404"
check "slot 1 unchanged" "$T" --json slot show 1
grep -q '"hostname":"sec.example","deviceId":"sec-dev"' out && ok || bad "slot 1: $(cat out)"
CS="HostName=cs.example;DeviceId=cs-dev;SharedAccessKey=$KEY"
same "provision from a connection string" "$(code "${J[@]}" "${H[@]}" -X POST -d "{\"ConnectionString\":\"$(printf '%s' "$CS" | base64 -w0)\"}" "$U/api/iot/tpm/settings/3")" "200"
check "slot 3 from the connection string" "$T" --json slot show 3
grep -q '"hostname":"cs.example","deviceId":"cs-dev"' out && ok || bad "slot 3: $(cat out)"
same "logout" "$(code "${J[@]}" "${H[@]}" -X POST "$U/api/logout")" "200"
same "session gone after logout" "$(code "${J[@]}" "$U/api/iot/tpm/settings")" "401"

# Sessions end when idle: a second portal with a 5-second idle timeout.
IPORT=$((PORT + 1))
"$T" portal --state "$P" --listen 127.0.0.1:$IPORT --idle-timeout 5 2>"$WORK/idle.log" &
track_pid $!
for _ in $(seq 50); do grep -q 'https://' "$WORK/idle.log" && break; sleep 0.1; done
IU="https://127.0.0.1:$IPORT"
same "login (idle portal)" "$(code -c "$WORK/jar2" -X POST -d "{\"password\":\"$PW\"}" "$IU/api/login")" "200"
same "fresh session works" "$(code -b "$WORK/jar2" "$IU/api/iot/tpm/settings")" "200"
sleep 6
same "idle session expired" "$(code -b "$WORK/jar2" "$IU/api/iot/tpm/settings")" "401"

# The page in Chromium.
DEVKEY=$(head -c 32 /dev/urandom | base64)
if PORTAL_URL="$U/" PORTAL_PASSWORD="$PW" DEVICE_KEY="$DEVKEY" SHOTS="$SHOTS" \
    node "$BROWSER_DIR/portal.mjs" >"$WORK/browser.out" 2>&1; then ok; else bad "browser: $(tail -5 "$WORK/browser.out")"; fi
grep '^TOKEN ' "$WORK/browser.out" | sed 's/^TOKEN //' >btok
echo "$DEVKEY" >dev.b64
check "the page's token verifies" "$T" verify --key-file dev.b64 --token-file btok
for n in 1-login 2-slots 3-provisioned 4-token 5-destroyed 6-logged-out; do
    [ -s "$SHOTS/$n.png" ] && ok || bad "no screenshot $n"
done
echo "screenshots in $SHOTS"
# No key in the log.
grep -qF -e "$KEY" -e "$DEVKEY" "$WORK/portal.log" && bad "a key in the log" || ok

summary
