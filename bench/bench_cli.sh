#!/usr/bin/env bash
# Median wall time of one `tpmiot token N` process against a shell pipeline
# of tpm2-tools doing the same job (read the NV URI, HMAC, base64, format),
# on one private swtpm, runs interleaved. Prints figures; asserts nothing.
set -euo pipefail
T=$(realpath "$1")
RUNS=${2:-40}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/tpmiot-bench-XXXXXX")
cleanup() { "$T" simulator stop --state "$DIR/tpm" >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
export TSS2_LOG=all+none
TCTI=$("$T" simulator start --state "$DIR/tpm")
export TPMIOT_TCTI=$TCTI TPM2TOOLS_TCTI=$TCTI
openssl rand -base64 32 >"$DIR/key"
"$T" slot provision 0 --host bench-hub.example.net --device-id bench-device-0001 --key-file "$DIR/key" 2>/dev/null

# The peer: what a shell script on a device would do with tpm2-tools alone.
tools_token() {
    local uri host dev se sr sig
    uri=$(tpm2_nvread 0x01400100 2>/dev/null)
    host=${uri%%/*}
    dev=${uri#*/}
    se=$(($(date +%s) + 3600))
    sr="$host/devices/$dev"
    sig=$(printf '%s\n%s' "$sr" "$se" | tpm2_hmac -c 0x81000100 -g sha256 | base64 |
        sed 's/+/%2B/g; s/\//%2F/g; s/=/%3D/g')
    echo "SharedAccessSignature sr=$sr&sig=$sig&se=$se"
}

# Both must produce a valid token, or the comparison means nothing.
"$T" token 0 | "$T" verify --key-file "$DIR/key" >/dev/null
tools_token | "$T" verify --key-file "$DIR/key" >/dev/null

ours=()
peer=()
for ((i = 0; i < RUNS; i++)); do
    t0=$EPOCHREALTIME
    "$T" token 0 >/dev/null
    t1=$EPOCHREALTIME
    tools_token >/dev/null
    t2=$EPOCHREALTIME
    ours+=("$(echo "($t1 - $t0) * 1000" | bc -l)")
    peer+=("$(echo "($t2 - $t1) * 1000" | bc -l)")
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mo=$(med "${ours[@]}")
mp=$(med "${peer[@]}")
printf 'tpmiot token (one process):          median %7.2f ms\n' "$mo"
printf 'tpm2-tools pipeline (nvread+hmac):   median %7.2f ms\n' "$mp"
printf 'ratio tpmiot/pipeline:                      %7.3f   (target <= 0.25; %d runs each)\n' \
    "$(echo "$mo / $mp" | bc -l)" "$RUNS"
