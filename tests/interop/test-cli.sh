#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Interop smoke test of the kms11 CLI: a key it creates is usable through the module, and the other way round.
. "$(dirname "$0")/common.sh"
kms_need pkcs11-tool openssl python3
: "${KMS11_CLI:?KMS11_CLI must name the kms11 tool}"
[ -x "$KMS11_CLI" ] || kms_die "the kms11 tool $KMS11_CLI is missing"
CLI=("$KMS11_CLI")

# json FILE EXPR: prints a Python expression over the JSON document `d` in FILE.
json() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

kms_run "kms11 token init" "${CLI[@]}" token init --label "$KMS_LABEL" --so-pin "$KMS_SO_PIN" --pin "$KMS_PIN"
kms_run "pkcs11-tool sees the initialised token" "${P11[@]}" -L
kms_check "token label kms11 with a PIN" grep -q "PIN initialized" "$KMS_TMP/last.log"

if "${CLI[@]}" key create --algorithm ECDSA --size 256 --name smoke-ec --pin "$KMS_PIN" >"$KMS_TMP/create.json" \
	2>"$KMS_TMP/create.err"; then
	kms_ok "kms11 key create ECDSA 256"
	kms_check "the key has a 64-hex key_id" \
		[ "$(json "$KMS_TMP/create.json" 'len(d["key_id"]) == 64 and int(d["key_id"], 16) >= 0')" = True ]
	kms_check "the key has a pkcs11: URI" \
		[ "$(json "$KMS_TMP/create.json" 'd["pkcs11_uri"].startswith("pkcs11:")')" = True ]
	kms_check "the key has its name" [ "$(json "$KMS_TMP/create.json" 'd["name"]')" = smoke-ec ]
	key_id=$(json "$KMS_TMP/create.json" 'd["key_id"]')
else
	kms_fail "kms11 key create ECDSA 256: $(cat "$KMS_TMP/create.err")"
	key_id=none
fi

if "${CLI[@]}" key list >"$KMS_TMP/list.json" 2>"$KMS_TMP/list.err"; then
	kms_check "kms11 key list has the key" \
		[ "$(json "$KMS_TMP/list.json" '[k["name"] for k in d["list"]].count("smoke-ec")')" = 1 ]
else
	kms_fail "kms11 key list: $(cat "$KMS_TMP/list.err")"
fi
if "${CLI[@]}" key get smoke-ec >"$KMS_TMP/get.json" 2>"$KMS_TMP/get.err"; then
	kms_check "kms11 key get by name gives the same key_id" [ "$(json "$KMS_TMP/get.json" 'd["key_id"]')" = "$key_id" ]
else
	kms_fail "kms11 key get smoke-ec: $(cat "$KMS_TMP/get.err")"
fi

# The CLI's key signs through the module; openssl verifies with the public key the module exports.
# (pkcs11-tool --sign selects keys by --id only.)
echo "smoke" >"$KMS_TMP/msg"
kms_try "${P11T[@]}" -O --type pubkey || true
cli_id=$(awk '$1 == "label:" { l = $2 } $1 == "ID:" && l == "smoke-ec" { print $2; exit }' "$KMS_TMP/last.log")
kms_check "pkcs11-tool -O shows the CLI's key with a CKA_ID (${cli_id:-none})" [ -n "$cli_id" ]
if [ -n "$cli_id" ] && kms_run "pkcs11-tool signs with the CLI's key" "${P11T[@]}" --login --pin "$KMS_PIN" \
	--sign -m ECDSA-SHA256 --signature-format openssl --id "$cli_id" -i "$KMS_TMP/msg" -o "$KMS_TMP/msg.sig"; then
	kms_try "${P11T[@]}" --read-object --type pubkey --label smoke-ec -o "$KMS_TMP/pub.der" || true
	kms_run "openssl verifies it" openssl dgst -sha256 -verify "$KMS_TMP/pub.der" -keyform DER \
		-signature "$KMS_TMP/msg.sig" "$KMS_TMP/msg" || true
fi

# A key made through the module is listed by the CLI.
kms_run "pkcs11-tool generates a key" "${P11T[@]}" --login --pin "$KMS_PIN" --keypairgen --key-type EC:prime256v1 \
	--label from-p11 --id 42
if "${CLI[@]}" key list >"$KMS_TMP/list2.json" 2>/dev/null; then
	kms_check "kms11 key list shows the pkcs11-tool key" \
		[ "$(json "$KMS_TMP/list2.json" '[k["name"] for k in d["list"]].count("from-p11")')" = 1 ]
else
	kms_fail "kms11 key list (second)"
fi

kms_run "kms11 key delete" "${CLI[@]}" key delete smoke-ec --pin "$KMS_PIN" || true
if "${CLI[@]}" key get smoke-ec >"$KMS_TMP/gone.json" 2>&1; then
	kms_fail "kms11 key get of a deleted key fails"
else
	kms_check "kms11 key get of a deleted key fails with {\"err\": ...}" grep -q '"err"' "$KMS_TMP/gone.json"
fi
# kms11 store check: the live store is sound; a truncated copy and a copy with a damaged record are not.
if "${CLI[@]}" store check >"$KMS_TMP/check.json" 2>&1; then
	kms_check "kms11 store check finds the store sound" [ "$(json "$KMS_TMP/check.json" 'd["ok"]')" = True ]
	kms_check "kms11 store check counted the objects" [ "$(json "$KMS_TMP/check.json" 'd["objects"]')" -ge 2 ]
else
	kms_fail "kms11 store check on the live store: $(cat "$KMS_TMP/check.json")"
fi
cp -r "$KMS11_STORE" "$KMS_TMP/cut"
rm -f "$KMS_TMP/cut/lock.mdb"
truncate -s 20000 "$KMS_TMP/cut/data.mdb"
if "${CLI[@]}" store check --store "$KMS_TMP/cut" >"$KMS_TMP/cut.json" 2>&1; then
	kms_fail "kms11 store check passes a truncated store"
else
	kms_check "kms11 store check exits 1 on a truncated store" [ $? -eq 1 ]
	kms_check "and says which file and why" grep -q 'data.mdb is truncated or damaged: 20000 bytes' "$KMS_TMP/cut.json"
	kms_check "the module refuses the truncated store (C_Initialize: CKR_GENERAL_ERROR)" [ "$(KMS11_STORE="$KMS_TMP/cut" /usr/bin/python3 - "$KMS11_MODULE" <<'PY'
import sys, PyKCS11
lib = PyKCS11.PyKCS11Lib()
try:
    lib.load(sys.argv[1])
    print("loaded")
except PyKCS11.PyKCS11Error as e:
    print(e.value == PyKCS11.CKR_GENERAL_ERROR and "general-error" or e)
PY
)" = general-error ]
fi
if "${CLI[@]}" store check --store "$KMS_TMP/none" >"$KMS_TMP/none.json" 2>&1; then
	kms_fail "kms11 store check passes a missing store"
else
	kms_check "kms11 store check names a missing store" grep -q 'No such file or directory' "$KMS_TMP/none.json"
fi
kms_finish
