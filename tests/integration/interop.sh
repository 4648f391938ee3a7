#!/usr/bin/env bash
# Interop with tpm2-tools in both directions: Limpet's layout is the contract.
. "$(dirname "$0")/lib.sh"
start_tpm
T=$TPMIOT
cd "$WORK"

# 1. tpmiot provisions; tpm2-tools reads the URI and signs with the key.
head -c 32 /dev/urandom >key.bin
base64 <key.bin >key.b64
check "provision slot 3" $T slot provision 3 --host hub.example.net --device-id dev-3 --key-file key.b64
check "tpm2_nvread the URI" tpm2_nvread 0x01400103 -o uri
same "URI bytes, sized exactly" "$(od -An -c uri | tr -s ' ')" "$(printf 'hub.example.net/dev-3' | od -An -c | tr -s ' ')"
same "URI size" "$(stat -c %s uri)" "21"
head -c 3000 /dev/urandom >data
check "tpm2_hmac with the slot key" tpm2_hmac -c 0x81000103 -g sha256 -o mac.bin data
same "tpm2_hmac equals OpenSSL" "$(base64 <mac.bin)" "$(openssl_hmac key.bin data)"
check "tpm2_readpublic the key" tpm2_readpublic -c 0x81000103
for a in fixedtpm fixedparent sign userwithauth noda; do
    grep -q "value: .*$a" out && ok || bad "key attribute $a missing: $(grep -A1 attributes out)"
done
grep -q 'value: keyedhash' out && ok || bad "key type"
grep -A1 '^algorithm' out | grep -q hmac && ok || bad "hmac scheme"
check "SRK persistent at 0x81000001" tpm2_readpublic -c 0x81000001
check "no journal left" sh -c "tpm2_getcap handles-nv-index | grep -v -q 0x1400183 "
if tpm2_getcap handles-nv-index | grep -qi '0x14001[89]'; then bad "journal index left"; else ok; fi

# 2. tpm2-tools writes a slot in Limpet's layout; tpmiot reads and signs.
head -c 32 /dev/urandom >k4.bin
base64 <k4.bin >k4.b64
check "tpm2_import hmac key" tpm2_import -C 0x81000001 -G hmac -i k4.bin -u k4.pub -r k4.priv
check "tpm2_load" tpm2_load -C 0x81000001 -u k4.pub -r k4.priv -c k4.ctx
check "tpm2_evictcontrol" tpm2_evictcontrol -C o -c k4.ctx 0x81000104
printf 'limpet.example.net/dev-4' >uri4
check "tpm2_nvdefine" tpm2_nvdefine 0x01400104 -C o -s "$(stat -c %s uri4)" -a "ownerread|ownerwrite|authread|authwrite"
check "tpm2_nvwrite" tpm2_nvwrite 0x01400104 -C o -i uri4
tpm2_flushcontext -t >/dev/null 2>&1
check "tpmiot reads the slot" $T --json slot show 4
grep -q '"keyPresent":true,"uriPresent":true,"hostname":"limpet.example.net","deviceId":"dev-4"' out && ok || bad "show 4: $(cat out)"
check "tpmiot token verifies" sh -c "$T token 4 | $T verify --key-file k4.b64"
check "tpmiot hmac" $T hmac 4 --file data
same "tpmiot hmac equals OpenSSL" "$(cat out)" "$(openssl_hmac k4.bin data)"
check "tpmiot destroys it" $T slot destroy 4
if tpm2_getcap handles-persistent | grep -q 0x81000104; then bad "key 4 left"; else ok; fi
if tpm2_getcap handles-nv-index | grep -q 0x1400104; then bad "uri 4 left"; else ok; fi

summary
