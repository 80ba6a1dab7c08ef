#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Key versions and rotation: old ciphertexts still decrypt, old signatures still verify, a PKCS#11 application
# that finds the private key by its label alone gets exactly one object (the new version) whose signature openssl
# verifies against the new public key; an older version only verifies; given key material (checked by
# python3-cryptography); automatic rotation by kms11 maintain under a moved clock (faketime).
. "$(dirname "$0")/common.sh"
kms_need openssl python3 faketime
: "${KMS11_CLI:?KMS11_CLI must name the kms11 tool}"
K=("$KMS11_CLI")
PY=/usr/bin/python3
unset KMS11_SO_PIN
[ "${KMS11_TEST_ENGINE:-openssl}" = pkcs11 ] || unset KMS11_CONF
export KMS11_PIN="$KMS_PIN"
"${K[@]}" token init --label "$KMS_LABEL" --so-pin "$KMS_SO_PIN" --pin "$KMS_PIN" >/dev/null || kms_die "token init"

msg=$(printf 'rotate me' | base64)

# --- a secret key: ciphertexts of every version decrypt ---
"${K[@]}" key create --algorithm AES --name vault --tag keep --metadata '{"o":1}' >/dev/null || kms_die "create"
"${K[@]}" key aliases vault --patch '[{"op":"add","path":"/-","value":"vault-alias"}]' >/dev/null || kms_die "alias"
"${K[@]}" key encrypt vault --plaintext "$msg" >"$KMS_TMP/c1.json" || kms_die "encrypt 1"
kms_expect 0 "rotate the AES key" "${K[@]}" key rotate vault
kms_check "version 2, versions 1 and 2, one primary" [ "$(kms_json "$KMS_TMP/out.json" '(d["version"],
	[(v["number"], v["primary"]) for v in d["versions"]])')" = "(2, [(1, False), (2, True)])" ]
kms_check "name, tags, aliases and metadata kept" [ "$(kms_json "$KMS_TMP/out.json" '(d["name"], d["tags"], d["aliases"],
	d["metadata"])')" = "('vault', ['keep'], ['vault-alias'], {'o': 1})" ]
kms_expect 0 "encrypt after the rotation" "${K[@]}" key encrypt vault --plaintext "$msg"
c2=$(kms_json "$KMS_TMP/out.json" 'd["ciphertext"]')
kms_check "the new ciphertext names version 2" [ "${c2#kms11:v2:}" != "$c2" ]
kms_expect 0 "the version 1 ciphertext still decrypts" "${K[@]}" key decrypt vault-alias \
	--ciphertext "$(kms_json "$KMS_TMP/c1.json" 'd["ciphertext"]')"
kms_check "to the plaintext" [ "$(kms_json "$KMS_TMP/out.json" 'd["plaintext"]')" = "$msg" ]
kms_expect 0 "the version 2 ciphertext decrypts" "${K[@]}" key decrypt vault --ciphertext "$c2"

# Given material: the ciphertext is AES-256-GCM under exactly that key (python3-cryptography decrypts it).
mat=$($PY -c 'import os,base64; print(base64.b64encode(os.urandom(32)).decode())')
kms_expect 0 "rotate with given key material" "${K[@]}" key rotate vault --key-material "$mat"
kms_check "version 3" [ "$(kms_json "$KMS_TMP/out.json" 'd["version"]')" = 3 ]
kms_expect 0 "encrypt under version 3 with AAD" "${K[@]}" key encrypt vault --plaintext "$msg" --aad "$(printf ad | base64)"
kms_check "python3-cryptography decrypts it with the given material and AAD" [ "$($PY - "$mat" \
	"$(kms_json "$KMS_TMP/out.json" 'd["ciphertext"]')" <<'PY'
import base64, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
key = base64.b64decode(sys.argv[1])
raw = base64.b64decode(sys.argv[2].split(":", 2)[2])
print(base64.b64encode(AESGCM(key).decrypt(raw[:12], raw[12:], b"ad")).decode())
PY
)" = "$msg" ]
kms_expect 2 "given material of a wrong length" "${K[@]}" key rotate vault --key-material "$(printf 0123456789 | base64)"

# --- a key pair: old signatures verify; applications find the new version by label ---
"${K[@]}" key create --algorithm ECDSA --name signer >/dev/null || kms_die "create signer"
"${K[@]}" key public-key signer >"$KMS_TMP/pk1.json" || kms_die "public-key"
"${K[@]}" key sign signer --algorithm ECDSA_SHA_256 --message "$msg" >"$KMS_TMP/s1.json" || kms_die "sign 1"
kms_expect 0 "rotate the key pair" "${K[@]}" key rotate signer
kms_expect 0 "a version 1 signature still verifies" "${K[@]}" key verify signer --algorithm ECDSA_SHA_256 --message "$msg" \
	--signature "$(kms_json "$KMS_TMP/s1.json" 'd["signature"]')"
kms_check "valid" [ "$(kms_json "$KMS_TMP/out.json" 'd["valid"]')" = True ]
kms_expect 0 "public-key --version 1" "${K[@]}" key public-key signer --version 1
kms_check "is the first public key" [ "$(kms_json "$KMS_TMP/out.json" 'd["public_key"]')" = \
	"$(kms_json "$KMS_TMP/pk1.json" 'd["public_key"]')" ]
kms_expect 0 "public-key (the primary)" "${K[@]}" key public-key signer
kms_json "$KMS_TMP/out.json" 'd["public_key"]' | base64 -d >"$KMS_TMP/pk2.pem"
kms_check "is version 2, a new key" [ "$(kms_json "$KMS_TMP/out.json" '(d["version"], d["public_key"] != "'"$(kms_json "$KMS_TMP/pk1.json" 'd["public_key"]')"'")')" = "(2, True)" ]
kms_expect 3 "public-key --version 9" "${K[@]}" key public-key signer --version 9
printf 'data' >"$KMS_TMP/data"
cat >"$KMS_TMP/app.py" <<'PY'
import sys, PyKCS11
KM = 0x80000000 | 0x4B4D0000
lib = PyKCS11.PyKCS11Lib()
lib.load(sys.argv[1])
s = lib.openSession(lib.getSlotList(tokenPresent=True)[0], PyKCS11.CKF_SERIAL_SESSION)
s.login("1234")
found = s.findObjects([(PyKCS11.CKA_LABEL, "signer"), (PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])
version = int.from_bytes(bytes(s.getAttributeValue(found[0], [KM + 8], allAsBinary=True)[0]), sys.byteorder)
sig = bytes(s.sign(found[0], open(sys.argv[2], "rb").read(), PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256)))
n = len(sig) // 2
r, t = int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big")
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
open(sys.argv[3], "wb").write(encode_dss_signature(r, t))
old = s.findObjects([(PyKCS11.CKA_LABEL, "signer#v1"), (PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])
try:
    s.sign(old[0], b"x", PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256))
    old_signs = "signs"
except PyKCS11.PyKCS11Error as e:
    old_signs = PyKCS11.CKR[e.value]
print(len(found), version, len(old), old_signs)
PY
kms_check "PyKCS11: the label finds one private key, version 2; signer#v1 finds the old one, which may not sign" \
	[ "$($PY "$KMS_TMP/app.py" "$KMS11_MODULE" "$KMS_TMP/data" "$KMS_TMP/app.sig")" = \
		"1 2 1 CKR_KEY_FUNCTION_NOT_PERMITTED" ]
kms_check "openssl verifies the application's signature with the new public key" \
	openssl dgst -sha256 -verify "$KMS_TMP/pk2.pem" -signature "$KMS_TMP/app.sig" "$KMS_TMP/data"
kms_expect 0 "rename after rotation" "${K[@]}" key rename signer --name signer2
cat >"$KMS_TMP/labels.py" <<'PY'
import sys, PyKCS11
lib = PyKCS11.PyKCS11Lib()
lib.load(sys.argv[1])
s = lib.openSession(lib.getSlotList(tokenPresent=True)[0], PyKCS11.CKF_SERIAL_SESSION)
s.login("1234")
print(sorted(bytes(s.getAttributeValue(o, [PyKCS11.CKA_LABEL], allAsBinary=True)[0]).decode()
             for o in s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])))
PY
kms_check "the versions' labels follow the name" [ "$($PY "$KMS_TMP/labels.py" "$KMS11_MODULE")" = \
	"['signer2', 'signer2#v1']" ]

# --- IBM Key Protect: wrap, unwrap and rewrap with a root key and an AAD list ---
"${K[@]}" key create --algorithm AES --name root >/dev/null || kms_die "create root"
kms_expect 0 "wrap a new data key with two AAD strings" "${K[@]}" key wrap root --aad tenant-a --aad "app 7"
kms_check "a 32-byte data key, version 1" [ "$(kms_json "$KMS_TMP/out.json" '(len(__import__("base64").b64decode(d["plaintext"])),
	d["key_version"])')" = "(32, 1)" ]
dek=$(kms_json "$KMS_TMP/out.json" 'd["plaintext"]')
w1=$(kms_json "$KMS_TMP/out.json" 'd["ciphertext"]')
kms_expect 0 "unwrap with the same AAD list" "${K[@]}" key unwrap root --ciphertext "$w1" --aad tenant-a --aad "app 7"
kms_check "the data key, version 1" [ "$(kms_json "$KMS_TMP/out.json" '(d["plaintext"], d["key_version"])')" = "('$dek', 1)" ]
kms_expect 2 "unwrap with the AAD strings reordered" "${K[@]}" key unwrap root --ciphertext "$w1" --aad "app 7" --aad tenant-a
kms_expect 2 "unwrap with one AAD string missing" "${K[@]}" key unwrap root --ciphertext "$w1" --aad tenant-a
kms_expect 0 "wrap a given data key, no AAD" "${K[@]}" key wrap root --plaintext "$msg"
kms_check "no plaintext in the answer" [ "$(kms_json "$KMS_TMP/out.json" '"plaintext" in d')" = False ]
"${K[@]}" key rotate root >/dev/null || kms_die "rotate root"
kms_expect 0 "unwrap after rotation" "${K[@]}" key unwrap root --ciphertext "$w1" --aad tenant-a --aad "app 7"
kms_check "says version 1 wrapped it" [ "$(kms_json "$KMS_TMP/out.json" '(d["plaintext"], d["key_version"])')" = "('$dek', 1)" ]
kms_expect 0 "rewrap" "${K[@]}" key rewrap root --ciphertext "$w1" --aad tenant-a --aad "app 7"
kms_check "to version 2" [ "$(kms_json "$KMS_TMP/out.json" 'd["key_version"]')" = 2 ]
w2=$(kms_json "$KMS_TMP/out.json" 'd["ciphertext"]')
kms_expect 0 "unwrap the rewrapped key" "${K[@]}" key unwrap root --ciphertext "$w2" --aad tenant-a --aad "app 7"
kms_check "the same data key, version 2" [ "$(kms_json "$KMS_TMP/out.json" '(d["plaintext"], d["key_version"])')" = "('$dek', 2)" ]
many=(); for i in $(seq 127); do many+=(--aad "a$i"); done
kms_expect 2 "127 AAD strings" "${K[@]}" key wrap root "${many[@]}"
kms_expect 2 "an AAD string of 256 bytes" "${K[@]}" key wrap root --aad "$(head -c 256 /dev/zero | tr '\0' x)"
kms_expect 2 "wrap with an EC key" "${K[@]}" key wrap signer2

# --- automatic rotation ---
kms_expect 0 "rotation --period-days 30" "${K[@]}" key rotation vault --period-days 30
kms_check "rotation shows the period and the next date" [ "$(kms_json "$KMS_TMP/out.json" '(d["rotation"]["period_days"],
	d["rotation"]["next_ts"][:10])')" = "(30, '$(date -u -d '+30 days' +%F)')" ]
kms_expect 0 "kms11 maintain today" "${K[@]}" maintain
kms_check "rotates nothing" [ "$(kms_json "$KMS_TMP/out.json" 'd["rotated"]')" = "[]" ]
kms_expect 0 "kms11 maintain in 31 days" faketime -f '+31d' "${K[@]}" maintain
kms_check "rotates the vault key to version 4" [ "$(kms_json "$KMS_TMP/out.json" '[(r["key_id"] != "", r["version"]) for r in d["rotated"]]')" = "[(True, 4)]" ]
kms_expect 0 "key get vault" "${K[@]}" key get vault
kms_check "version 4, next rotation 30 days after that maintain" [ "$(kms_json "$KMS_TMP/out.json" '(d["version"],
	d["rotation"]["next_ts"][:10])')" = "(4, '$(date -u -d '+61 days' +%F)')" ]
kms_expect 0 "rotation --off" "${K[@]}" key rotation vault --off
kms_check "no rotation shown" [ "$(kms_json "$KMS_TMP/out.json" '"rotation" in d')" = False ]
kms_expect 2 "rotation with neither option" "${K[@]}" key rotation vault
"${K[@]}" key disable vault >/dev/null || kms_die "disable"
kms_expect 4 "a disabled key does not rotate" "${K[@]}" key rotate vault
kms_finish
