#!/usr/bin/env bash
# The tpmiot demo: a software TPM, a device identity in slot 0, a SAS token
# signed inside the TPM and checked against the key in memory. Everything
# runs in a temporary directory and is stopped and removed at the end.
set -euo pipefail
T=$(realpath "${1:-build/cli/tpmiot}")
DIR=$(mktemp -d "${TMPDIR:-/tmp}/tpmiot-demo-XXXXXX")
STATE="$DIR/swtpm"

cleanup() {
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

step "2. Make a fresh 32-byte device key (this is what a hub would give you)"
umask 077
openssl rand -base64 32 >"$DIR/device.key"
echo "key written to $DIR/device.key (mode 0600); it goes into the TPM next"

step "3. Provision slot 0: hub hostname, device id and the key go into the TPM"
run "$T" slot provision 0 --host demo-hub.local --device-id demo-device-1 --key-file "$DIR/device.key"
echo "the key now lives only inside the TPM (persistent handle 0x81000100)"

step "4. Show the slot (the key is never printed again)"
run "$T" slot list
run "$T" slot show 0

step "5. A SAS token for slot 0, signed by one TPM2_HMAC"
TOKEN=$(run "$T" token 0 --ttl 3600)
echo "$TOKEN"
printf '%s\n' "$TOKEN" >"$DIR/token"

step "6. Verify it with the in-memory signer, using the key from step 2"
run "$T" verify --key-file "$DIR/device.key" --token-file "$DIR/token"

step "7. A tampered token is refused"
sed 's/se=[0-9]*/se=4102444800/' "$DIR/token" >"$DIR/tampered"
if "$T" verify --key-file "$DIR/device.key" --token-file "$DIR/tampered"; then
    echo "BUG: a tampered token verified" >&2
    exit 1
fi

step "Done: stopping the software TPM and removing $DIR"
