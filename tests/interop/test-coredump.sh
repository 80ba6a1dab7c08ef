#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Interop suite: a gcore of a logged-in process that has used an RSA, an EC, an Ed25519 and an AES key holds
# none of their secret bytes nor the token key (gdb's gcore honours MADV_DONTDUMP, as the kernel's dumps do).
# Each secret is looked for as it is (big-endian bytes) and byte-reversed (OpenSSL's BIGNUM limbs on a
# little-endian machine), a 16-byte window of each.
. "$(dirname "$0")/common.sh"
kms_need gcore gdb python3 timeout
helper=${1:?usage: test-coredump.sh HELPER}
[ -x "$helper" ] || kms_die "helper $helper is missing"

kms_token_init
"$helper" "$KMS_TMP/secrets" >"$KMS_TMP/helper.log" 2>&1 &
pid=$!
KMS_PIDS+=("$pid")
for _ in $(seq 1 300); do
	grep -q "^ready" "$KMS_TMP/helper.log" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
grep -v "^ready" "$KMS_TMP/helper.log" | sed 's/^/# helper: /'
kms_check "the helper used every key" grep -q "^ready 0$" "$KMS_TMP/helper.log"
kms_check "it wrote the seven secrets" [ "$(wc -l <"$KMS_TMP/secrets")" -eq 7 ]
kms_run "gcore the logged-in process" timeout 120 gcore -o "$KMS_TMP/core" "$pid"
kill "$pid" 2>/dev/null || true
core="$KMS_TMP/core.$pid"
kms_check "the core file was written" [ -s "$core" ]
if [ -s "$core" ]; then
	# A window that is there must be found: the helper's message to sign, on its heap, is in the dump.
	kms_check "the search finds what is there (the helper's message on its heap)" \
		grep -aq "kms11-dump-marker-4242" "$core"
	while read -r name hex; do
		if /usr/bin/python3 - "$core" "$hex" <<'PY'; then
import sys
data = open(sys.argv[1], "rb").read()
secret = bytes.fromhex(sys.argv[2])
mid = len(secret) // 2 - 8
for form in (secret, secret[::-1]):
    if form[mid:mid + 16] in data:
        sys.exit(1)
sys.exit(0)
PY
			kms_ok "the dump holds no byte window of $name"
		else
			kms_fail "the dump holds no byte window of $name"
		fi
	done <"$KMS_TMP/secrets"
fi
rm -f "$core"
kms_finish
