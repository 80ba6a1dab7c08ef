#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Backup, restore and moving a store, as the README says: mdb_copy -c of a live store (a process holds it open and
# writes meanwhile) is a consistent copy that kms11 store check finds sound; the copy holds no key material in
# clear; restored in another directory (another "host": its own configuration file naming the same token), the
# keys sign with the same PIN and the signatures verify with the public keys read before.
. "$(dirname "$0")/common.sh"
kms_need mdb_copy openssl
: "${KMS11_CLI:?KMS11_CLI must name the kms11 tool}"
K=("$KMS11_CLI")
printf '[token:web]\nengine = openssl\n' >"$KMS_TMP/kms11.conf"
export KMS11_CONF="$KMS_TMP/kms11.conf"
"${K[@]}" token init --label web --so-pin "$KMS_SO_PIN" --pin "$KMS_PIN" >/dev/null || kms_die "token init"
"${K[@]}" key create --algorithm ECDSA --name backed-up --tag kept --pin "$KMS_PIN" >/dev/null || kms_die "key create"
"${K[@]}" key create --algorithm AES --size 256 --name secret-aes --pin "$KMS_PIN" >/dev/null || kms_die "key create AES"
"${K[@]}" key public-key backed-up >"$KMS_TMP/pub.json"
kms_json "$KMS_TMP/pub.json" 'd["public_key"]' | base64 -d >"$KMS_TMP/pub.pem"

# A process keeps the store open and writes while the copy is taken.
(for i in $(seq 20); do "${K[@]}" key tags backed-up --tag kept --tag "round-$i" --pin "$KMS_PIN" >/dev/null; done) &
writer=$!
KMS_PIDS+=("$writer")
mkdir "$KMS_TMP/backup"
kms_run "mdb_copy -c of the live store" mdb_copy -c "$KMS11_STORE" "$KMS_TMP/backup"
wait "$writer" || kms_fail "the writer failed"
kms_run "kms11 store check finds the copy sound" "${K[@]}" store check --store "$KMS_TMP/backup"
kms_check "... ok" grep -q '"ok": true' "$KMS_TMP/last.log"
# The copy holds the private scalar of no key in clear: the key is exported from nowhere, so the test checks the
# sealed records instead: no PKCS#8 private key header, and the AES key's value is not readable through anything.
kms_check "the copy holds no PKCS#8 private key in clear" bash -c "! grep -qa 'PRIVATE KEY' '$KMS_TMP/backup/data.mdb' && \
	! LC_ALL=C grep -qaP '\\x30\\x81\\x87\\x02\\x01\\x00\\x30\\x13\\x06\\x07\\x2a\\x86\\x48\\xce\\x3d\\x02\\x01' '$KMS_TMP/backup/data.mdb'"

# Restore on another "host": its own store directory and configuration with the same token section.
mkdir -p "$KMS_TMP/host2/store"
chmod 0700 "$KMS_TMP/host2/store"
cp "$KMS_TMP/backup/data.mdb" "$KMS_TMP/host2/store/data.mdb"
chmod 0600 "$KMS_TMP/host2/store/data.mdb"
printf '[kms11]\nstore = %s\n\n[token:web]\nengine = openssl\n' "$KMS_TMP/host2/store" >"$KMS_TMP/host2/kms11.conf"
H2=(env -u KMS11_STORE KMS11_CONF="$KMS_TMP/host2/kms11.conf" "${K[@]}")
kms_expect 0 "the restored store lists the key" "${H2[@]}" key get backed-up
kms_check "... with its tag" [ "$(kms_json "$KMS_TMP/out.json" '"kept" in d["tags"]')" = True ]
printf 'restored' | base64 >"$KMS_TMP/msg.b64"
kms_expect 0 "the restored key signs with the same PIN" "${H2[@]}" key sign backed-up --algorithm ECDSA_SHA_256 \
	--message "$(cat "$KMS_TMP/msg.b64")" --pin "$KMS_PIN"
kms_json "$KMS_TMP/out.json" 'd["signature"]' | base64 -d >"$KMS_TMP/sig.der"
kms_run "the signature verifies with the public key read before the backup" openssl dgst -sha256 -verify "$KMS_TMP/pub.pem" \
	-signature "$KMS_TMP/sig.der" <(printf 'restored')
kms_expect 5 "a wrong PIN opens nothing in the copy" "${H2[@]}" key sign backed-up --algorithm ECDSA_SHA_256 \
	--message "$(cat "$KMS_TMP/msg.b64")" --pin 00000000
kms_finish
