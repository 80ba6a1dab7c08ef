#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The pkcs11 engine against a real SoftHSMv2 token: keys made through kms11 live in the backend, sensitive and
# non-extractable, and their private values cannot be read through either module; one store with an openssl
# token and a pkcs11 token, listed and filtered by engine, each token's operations on its own engine; lifecycle,
# rotation and scheduled deletion on the HSM token (the backend objects go with the key); C_DestroyObject; the
# failure cases: a wrong backend PIN, a PIN file open to others, a missing library, an absent backend token, a
# backend token deleted while a process uses it.
. "$(dirname "$0")/common.sh"
kms_need pkcs11-tool openssl faketime softhsm2-util chattr
: "${KMS11_CLI:?KMS11_CLI must name the kms11 tool}"
K=("$KMS11_CLI")
PY=/usr/bin/python3
SH=/usr/lib/softhsm/libsofthsm2.so
export KMS11_LOG="$KMS_TMP/kms11.log" KMS11_DEBUG=2

kms_softhsm_backend
cat >"$KMS11_CONF" <<EOF
[token:soft]
engine = openssl

[token:hsm]
; "softhsm" is the same engine as "pkcs11"
engine = softhsm
library = $SH
backend-token = kms11-backend
EOF
export KMS11_PIN="$KMS_PIN"
for t in soft hsm; do
	"${K[@]}" token init --engine-id "$t" --label "$t" --so-pin "$KMS_SO_PIN" --pin "$KMS_PIN" >/dev/null ||
		kms_die "token init $t"
done
P=("${P11[@]}" --token-label hsm --login --pin "$KMS_PIN")

# backend_count CLASS: how many objects of that class the backend token holds (read through libsofthsm2 itself).
backend_count() {
	$PY - "$1" <<'PY'
import sys, PyKCS11
lib = PyKCS11.PyKCS11Lib(); lib.load("/usr/lib/softhsm/libsofthsm2.so")
slot = [s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == "kms11-backend"][0]
s = lib.openSession(slot); s.login("1234")
cls = {"priv": PyKCS11.CKO_PRIVATE_KEY, "pub": PyKCS11.CKO_PUBLIC_KEY, "secret": PyKCS11.CKO_SECRET_KEY}[sys.argv[1]]
print(len(s.findObjects([(PyKCS11.CKA_CLASS, cls)])))
PY
}

# --- keys made through kms11 live in the backend ---
kms_run "generate RSA-2048 on the HSM token" "${P[@]}" --keypairgen --key-type rsa:2048 --label rsa --id 01
kms_run "generate P-256 on the HSM token" "${P[@]}" --keypairgen --key-type EC:prime256v1 --label ec --id 02
kms_run "generate AES-256 on the HSM token" "${P[@]}" --keygen --key-type AES:32 --label aes --id 03 --sensitive
printf 'signed through kms11 by the HSM' >"$KMS_TMP/msg"
kms_run "sign SHA256-RSA-PKCS" "${P[@]}" --sign -m SHA256-RSA-PKCS --id 01 -i "$KMS_TMP/msg" -o "$KMS_TMP/rsa.sig"
kms_run "export the RSA public key" "${P11[@]}" --token-label hsm --read-object --type pubkey --id 01 -o "$KMS_TMP/rsa.der"
kms_run "openssl verifies the RSA signature" openssl dgst -sha256 -verify <(openssl pkey -pubin -inform DER -in "$KMS_TMP/rsa.der") \
	-signature "$KMS_TMP/rsa.sig" "$KMS_TMP/msg"
kms_run "sign ECDSA-SHA256 (hashed by kms11, signed by the backend)" "${P[@]}" --sign -m ECDSA-SHA256 --signature-format openssl \
	--id 02 -i "$KMS_TMP/msg" -o "$KMS_TMP/ec.sig"
kms_run "export the EC public key" "${P11[@]}" --token-label hsm --read-object --type pubkey --id 02 -o "$KMS_TMP/ec.der"
kms_run "openssl verifies the ECDSA signature" openssl dgst -sha256 -verify <(openssl pkey -pubin -inform DER -in "$KMS_TMP/ec.der") \
	-signature "$KMS_TMP/ec.sig" "$KMS_TMP/msg"
kms_check "the backend holds 2 private keys and 1 secret key" [ "$(backend_count priv) $(backend_count secret)" = "2 1" ]

# The exact code of C_GetAttributeValue for one attribute (PyKCS11's own call turns a refusal into None).
RVGET='
from PyKCS11 import LowLevel
def rv_get(s, o, attr):
    t = LowLevel.ckattrlist(1); t[0].SetType(attr)
    return PyKCS11.CKR[s.lib.C_GetAttributeValue(s.session, o, t)]
'
got=$($PY <<PY
import PyKCS11
$RVGET
lib = PyKCS11.PyKCS11Lib(); lib.load("$SH")
slot = [s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == "kms11-backend"][0]
s = lib.openSession(slot); s.login("1234")
out = []
for cls in (PyKCS11.CKO_PRIVATE_KEY, PyKCS11.CKO_SECRET_KEY):
    for o in s.findObjects([(PyKCS11.CKA_CLASS, cls)]):
        sens, extr, tok, kt = s.getAttributeValue(o, [PyKCS11.CKA_SENSITIVE, PyKCS11.CKA_EXTRACTABLE, PyKCS11.CKA_TOKEN,
                                                      PyKCS11.CKA_KEY_TYPE])
        attr = PyKCS11.CKA_PRIVATE_EXPONENT if kt == PyKCS11.CKK_RSA else PyKCS11.CKA_VALUE
        out.append((bool(sens), bool(extr), bool(tok), rv_get(s, o, attr)))
print(sorted(set(out)))
PY
)
kms_check "in the backend every private and secret key is sensitive, not extractable, a token object, and its value unreadable ($got)" \
	[ "$got" = "[(True, False, True, 'CKR_ATTRIBUTE_SENSITIVE')]" ]

kms_check "through kms11 the private exponent, the EC value and the AES value are CKR_ATTRIBUTE_SENSITIVE" [ "$($PY <<PY
import PyKCS11
$RVGET
lib = PyKCS11.PyKCS11Lib(); lib.load("$KMS11_MODULE")
slot = [s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == "hsm"][0]
s = lib.openSession(slot); s.login("1234")
res = []
for cls, kid, attr in ((PyKCS11.CKO_PRIVATE_KEY, 1, PyKCS11.CKA_PRIVATE_EXPONENT), (PyKCS11.CKO_PRIVATE_KEY, 2, PyKCS11.CKA_VALUE),
                       (PyKCS11.CKO_SECRET_KEY, 3, PyKCS11.CKA_VALUE)):
    o = s.findObjects([(PyKCS11.CKA_CLASS, cls), (PyKCS11.CKA_ID, (kid,))])[0]
    res.append(rv_get(s, o, attr))
print(" ".join(res))
PY
)" = "CKR_ATTRIBUTE_SENSITIVE CKR_ATTRIBUTE_SENSITIVE CKR_ATTRIBUTE_SENSITIVE" ]

kms_run "AES-GCM encrypt and decrypt in the backend round trip" $PY - "$KMS11_MODULE" <<'PY'
import sys, PyKCS11
lib = PyKCS11.PyKCS11Lib(); lib.load(sys.argv[1])
slot = [s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == "hsm"][0]
s = lib.openSession(slot); s.login("1234")
k = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_ID, (3,))])[0]
m = PyKCS11.AES_GCM_Mechanism(bytes(12), b"aad", 128)
ct = s.encrypt(k, b"hsm plaintext", m)
assert len(ct) == 13 + 16, len(ct)
assert bytes(s.decrypt(k, ct, m)) == b"hsm plaintext"
PY

# --- C_WrapKey, C_UnwrapKey and C_DeriveKey happen in the backend ---
kms_run "generate an extractable AES wrapping key" "${P[@]}" --keygen --key-type AES:32 --label kek --id 41 --usage-wrap --extractable
kms_run "generate an extractable 32-byte generic key" "${P[@]}" --keygen --key-type GENERIC:32 --label gen --id 42 --extractable
kms_run "read the wrapping key (the backend gives it: extractable, not sensitive)" "${P[@]}" --read-object --type secrkey --id 41 \
	-o "$KMS_TMP/kek.bin"
kms_run "read the generic key" "${P[@]}" --read-object --type secrkey --id 42 -o "$KMS_TMP/gen.bin"
kms_run "wrap it with AES-KEY-WRAP" "${P[@]}" --wrap -m AES-KEY-WRAP --id 41 --application-id 42 -o "$KMS_TMP/wrapped"
kms_check "the wrapped key equals RFC 3394 computed by cryptography" $PY - "$KMS_TMP" <<'PY'
import sys
from cryptography.hazmat.primitives.keywrap import aes_key_wrap
d = sys.argv[1]
sys.exit(0 if aes_key_wrap(open(d + "/kek.bin", "rb").read(), open(d + "/gen.bin", "rb").read()) ==
         open(d + "/wrapped", "rb").read() else 1)
PY
kms_run "unwrap it as a new key" "${P[@]}" --unwrap -m AES-KEY-WRAP --id 41 -i "$KMS_TMP/wrapped" --key-type GENERIC:32 \
	--application-id 43 --application-label unwrapped --extractable
kms_run "read the unwrapped key" "${P[@]}" --read-object --type secrkey --id 43 -o "$KMS_TMP/unwrapped.bin"
kms_check "it has the original value" cmp -s "$KMS_TMP/unwrapped.bin" "$KMS_TMP/gen.bin"
kms_run "generate a P-256 derive key pair" "${P[@]}" --keypairgen --key-type EC:prime256v1 --label dh --id 51 --usage-derive
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$KMS_TMP/peer.pem"
openssl pkey -in "$KMS_TMP/peer.pem" -pubout -outform DER -out "$KMS_TMP/peer.der"
kms_run "ECDH1-DERIVE in the backend" "${P[@]}" --derive -m ECDH1-DERIVE --id 51 -i "$KMS_TMP/peer.der" -o "$KMS_TMP/z.bin"
kms_try "${P11[@]}" --token-label hsm --read-object --type pubkey --id 51 -o "$KMS_TMP/mine.der" || true
kms_try openssl pkeyutl -derive -inkey "$KMS_TMP/peer.pem" -peerkey "$KMS_TMP/mine.der" -peerform DER -out "$KMS_TMP/zref.bin" || true
kms_check "the shared secret equals openssl pkeyutl -derive" cmp -s "$KMS_TMP/z.bin" "$KMS_TMP/zref.bin"
# (the derived key is a session object: it lives in kms11's backend session, gone with that process)
kms_check "the backend holds the wrapping, generic and unwrapped keys too (4 secret keys)" [ "$(backend_count secret)" = 4 ]
# What the backend lacks is named: SoftHSMv2 2.6 has no CKM_RSA_AES_KEY_WRAP (bring your own key) nor CKM_AES_KEY_WRAP_KWP.
printf 'x' >"$KMS_TMP/junk"
kms_expect 2 "import --wrapped on the HSM token" "${K[@]}" key import --engine-id hsm --algorithm AES --name byok \
	--wrapped "$(base64 -w0 "$KMS_TMP/junk")"
kms_check "says which mechanism the backend lacks" grep -q "does not offer CKM_RSA_AES_KEY_WRAP" "$KMS_TMP/err.json"
for id in 41 42 43; do "${P[@]}" --delete-object --type secrkey --id $id >/dev/null 2>&1 || kms_die "delete secret $id"; done
for t in privkey pubkey; do "${P[@]}" --delete-object --type $t --id 51 >/dev/null 2>&1 || kms_die "delete dh $t"; done
kms_check "deleting them through kms11 deleted them in the backend" [ "$(backend_count secret)" = 1 ]

# --- two tokens in one store: listed, filtered, each on its own engine ---
kms_expect 0 "key create on the HSM token" "${K[@]}" key create --engine-id hsm --algorithm ECDSA --name hsm-signer
kms_check "engine_id hsm" [ "$(kms_json "$KMS_TMP/out.json" 'd["engine_id"]')" = hsm ]
kms_expect 0 "key create on the openssl token" "${K[@]}" key create --engine-id soft --algorithm ECDSA --name soft-signer
kms_check "the backend holds 3 private keys now (the CLI's key too)" [ "$(backend_count priv)" = 3 ]
kms_expect 0 "key list" "${K[@]}" key list --page-size 100
kms_check "lists keys of both tokens, with the pkcs11-tool keys" [ "$(kms_json "$KMS_TMP/out.json" \
	'sorted((k["engine_id"], k["name"]) for k in d["list"])')" = \
	"[('hsm', 'aes'), ('hsm', 'ec'), ('hsm', 'hsm-signer'), ('hsm', 'rsa'), ('soft', 'soft-signer')]" ]
kms_expect 0 "key list --filter engine_id[eq]hsm" "${K[@]}" key list --filter 'engine_id[eq]hsm' --page-size 100
kms_check "only the HSM token's keys" [ "$(kms_json "$KMS_TMP/out.json" 'sorted(k["name"] for k in d["list"])')" = \
	"['aes', 'ec', 'hsm-signer', 'rsa']" ]
msg=$(printf 'kms11 management plane' | base64)
kms_expect 0 "sign with the HSM key" "${K[@]}" key sign hsm-signer --algorithm ECDSA_SHA_256 --message "$msg"
sig1=$(kms_json "$KMS_TMP/out.json" 'd["signature"]')
kms_expect 0 "verify it" "${K[@]}" key verify hsm-signer --algorithm ECDSA_SHA_256 --message "$msg" --signature "$sig1"
kms_check "valid" [ "$(kms_json "$KMS_TMP/out.json" 'd["valid"]')" = True ]

# --- lifecycle and rotation on the HSM token ---
kms_expect 0 "disable the HSM key" "${K[@]}" key disable hsm-signer
kms_expect 5 "a disabled HSM key does not sign" "${K[@]}" key sign hsm-signer --algorithm ECDSA_SHA_256 --message "$msg"
kms_expect 0 "enable it" "${K[@]}" key enable hsm-signer
kms_expect 0 "rotate the HSM key" "${K[@]}" key rotate hsm-signer
kms_check "version 2" [ "$(kms_json "$KMS_TMP/out.json" 'd["version"]')" = 2 ]
kms_check "the new version was generated in the backend (4 private keys)" [ "$(backend_count priv)" = 4 ]
kms_expect 0 "the version 1 signature still verifies" "${K[@]}" key verify hsm-signer --algorithm ECDSA_SHA_256 --message "$msg" \
	--signature "$sig1"
kms_check "valid" [ "$(kms_json "$KMS_TMP/out.json" 'd["valid"]')" = True ]
kms_expect 0 "schedule the deletion of the HSM key in 7 days" "${K[@]}" key schedule-deletion hsm-signer --days 7
kms_expect 0 "maintain in 6 days deletes nothing" faketime -f '+6d' "${K[@]}" maintain
kms_check "the backend still holds both versions" [ "$(backend_count priv)" = 4 ]
kms_expect 0 "maintain in 8 days" faketime -f '+8d' "${K[@]}" maintain
kms_check "reports the deletion" [ "$(kms_json "$KMS_TMP/out.json" '[k["key_id"] != "" for k in d["deleted"]]')" = "[True]" ]
kms_check "both versions' backend objects are gone with the key" [ "$(backend_count priv) $(backend_count pub)" = "2 2" ]
kms_expect 3 "the key is gone" "${K[@]}" key get hsm-signer

kms_run "C_DestroyObject of the EC private key" "${P[@]}" --delete-object --type privkey --id 02
kms_check "destroys it in the backend" [ "$(backend_count priv)" = 1 ]
kms_expect 0 "key delete of the AES key" "${K[@]}" key delete aes
kms_check "destroys it in the backend" [ "$(backend_count secret)" = 0 ]

# --- keys the backend held before: not listed until adopted, then ordinary kms11 keys ---
"${K[@]}" key list --engine-id hsm --page-size 100 >"$KMS_TMP/before.json"
kms_run "SoftHSMv2 itself makes a key pair" pkcs11-tool --module "$SH" --token-label kms11-backend --login --pin "$KMS_PIN" \
	--keypairgen --key-type EC:prime256v1 --label legacy-signer --id 0a0b
kms_run "and an AES key" pkcs11-tool --module "$SH" --token-label kms11-backend --login --pin "$KMS_PIN" \
	--keygen --key-type AES:32 --label legacy-aes --id 0c0d --sensitive
kms_expect 0 "key list" "${K[@]}" key list --engine-id hsm --page-size 100
kms_check "does not show them (nothing is adopted silently)" cmp -s "$KMS_TMP/out.json" "$KMS_TMP/before.json"
kms_expect 2 "key adopt without a backend key" "${K[@]}" key adopt --engine-id hsm --name x
kms_expect 2 "key adopt with a bad --backend-id" "${K[@]}" key adopt --engine-id hsm --backend-id 0g --name x
kms_expect 3 "key adopt of a label the backend lacks" "${K[@]}" key adopt --engine-id hsm --backend-label nosuch --name x
kms_expect 2 "key adopt on the openssl token" "${K[@]}" key adopt --engine-id soft --backend-label legacy-signer --name x
kms_expect 0 "key adopt the key pair by label" "${K[@]}" key adopt --engine-id hsm --backend-label legacy-signer \
	--name adopted --tag legacy
kms_check "an ECDSA key pair named adopted, tagged legacy" [ "$(kms_json "$KMS_TMP/out.json" \
	'(d["algorithm"], d["has_private_key"], d["name"], d["tags"], d["engine_id"])')" = "('ECDSA', True, 'adopted', ['legacy'], 'hsm')" ]
kms_expect 4 "the same backend key again" "${K[@]}" key adopt --engine-id hsm --backend-id 0a0b --name again
kms_expect 0 "key adopt the AES key by CKA_ID" "${K[@]}" key adopt --engine-id hsm --backend-id 0c0d --name adopted-aes
kms_expect 4 "the AES key again" "${K[@]}" key adopt --engine-id hsm --backend-label legacy-aes --name again
kms_expect 0 "the adopted key pair signs" "${K[@]}" key sign adopted --algorithm ECDSA_SHA_256 --message "$msg"
asig=$(kms_json "$KMS_TMP/out.json" 'd["signature"]')
kms_expect 0 "public-key of the adopted key" "${K[@]}" key public-key adopted
kms_json "$KMS_TMP/out.json" 'd["public_key"]' | base64 -d >"$KMS_TMP/adopted.pem"
printf 'kms11 management plane' >"$KMS_TMP/amsg"
printf '%s' "$asig" | base64 -d >"$KMS_TMP/asig.der"
kms_run "openssl verifies the adopted key's signature" openssl dgst -sha256 -verify "$KMS_TMP/adopted.pem" -signature "$KMS_TMP/asig.der" \
	"$KMS_TMP/amsg"
kms_expect 0 "the adopted AES key encrypts" "${K[@]}" key encrypt adopted-aes --plaintext "$msg"
kms_expect 0 "and decrypts" "${K[@]}" key decrypt adopted-aes --ciphertext "$(kms_json "$KMS_TMP/out.json" 'd["ciphertext"]')"
kms_check "to the plaintext" [ "$(kms_json "$KMS_TMP/out.json" 'd["plaintext"]')" = "$msg" ]
n0=$(backend_count priv)
kms_expect 0 "deleting the adopted key pair" "${K[@]}" key delete adopted
kms_check "destroys it in the backend" [ "$(backend_count priv)" = $((n0 - 1)) ]
"${K[@]}" key delete adopted-aes >/dev/null || kms_die "delete adopted-aes"

# A deletion the backend refuses half-way: the key is marked for deletion first, so it refuses every use, and
# kms11 maintain finishes it once the backend lets its objects go. The backend's object files are made immutable
# (chattr +i), so SoftHSMv2's C_DestroyObject fails.
kms_expect 0 "create a key to delete" "${K[@]}" key create --algorithm ECDSA --engine-id hsm --name doomed
n0=$(backend_count priv)
mapfile -t objfiles < <(find "$KMS_TMP/backend" -name '*.object' ! -name token.object)
chattr +i "${objfiles[@]}" || kms_die "chattr +i is needed on $KMS_TMP (an ext2/3/4 or similar file system, as root)"
kms_expect 1 "key delete while the backend cannot destroy objects" "${K[@]}" key delete doomed
kms_check "... says the key is marked and maintain finishes it" grep -q "marked for deletion.*kms11 maintain" "$KMS_TMP/err.json"
chattr -i "${objfiles[@]}" || kms_die "chattr -i"
kms_expect 0 "the key is still listed" "${K[@]}" key get doomed
kms_check "... as pending deletion, due now" [ "$(kms_json "$KMS_TMP/out.json" '(d["state"], d["deletion_date"] <= __import__("time").strftime("%Y-%m-%dT%H:%M:%SZ", __import__("time").gmtime()))')" = "('pending_deletion', True)" ]
kms_expect 5 "... and refuses to sign" "${K[@]}" key sign doomed --algorithm ECDSA_SHA_256 --message "$msg"
kms_check "the backend still holds its private key" [ "$(backend_count priv)" = "$n0" ]
kms_expect 0 "kms11 maintain" "${K[@]}" maintain
kms_check "reports the deletion" [ "$(kms_json "$KMS_TMP/out.json" 'len(d["deleted"]), d["errors"]')" = "(1, [])" ]
kms_check "the backend object is gone" [ "$(backend_count priv)" = $((n0 - 1)) ]
kms_expect 3 "and so is the key" "${K[@]}" key get doomed

# A session key lives in a backend session object and goes when the kms11 session that made it closes.
kms_check "a session key's backend object goes with the kms11 session" [ "$($PY - "$KMS11_MODULE" "$SH" <<'PY'
import sys, PyKCS11
sh = PyKCS11.PyKCS11Lib(); sh.load(sys.argv[2])
kl = PyKCS11.PyKCS11Lib(); kl.load(sys.argv[1])
bslot = [s for s in sh.getSlotList(tokenPresent=True) if sh.getTokenInfo(s).label.strip() == "kms11-backend"][0]
kslot = [s for s in kl.getSlotList(tokenPresent=True) if kl.getTokenInfo(s).label.strip() == "hsm"][0]
b = sh.openSession(bslot)
def secrets():
    return len(b.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_TOKEN, False)]))
k = kl.openSession(kslot, PyKCS11.CKF_RW_SESSION); k.login("1234")
before = secrets()
k.generateKey([(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES),
               (PyKCS11.CKA_VALUE_LEN, 32), (PyKCS11.CKA_TOKEN, False)], PyKCS11.Mechanism(PyKCS11.CKM_AES_KEY_GEN))
during = secrets()
k2 = kl.openSession(kslot)        # another kms11 session keeps the login
k.closeSession()
print(before, during, secrets())
PY
)" = "0 1 0" ]

# Initialising the HSM token again destroys the keys it made in the backend (the SO PIN opens their references) when
# the engine can log in to the backend by itself (a PIN file); without one it leaves them, all of them, and says so.
printf '%s\n' "$KMS_PIN" >"$KMS_TMP/right.pin"
chmod 0600 "$KMS_TMP/right.pin"
sed "s|^backend-token = kms11-backend$|backend-token = kms11-backend\nbackend-pin-file = $KMS_TMP/right.pin|" "$KMS11_CONF" \
	>"$KMS_TMP/withpin.conf"
kms_check "before: the backend holds kms11's keys" [ "$(backend_count priv)" -gt 0 ]
kms_expect 0 "token init --force of the HSM token (backend PIN file)" env KMS11_CONF="$KMS_TMP/withpin.conf" "${K[@]}" \
	token init --engine-id hsm --force --label hsm --so-pin "$KMS_SO_PIN" --pin "$KMS_PIN"
got="$(backend_count priv) $(backend_count pub) $(backend_count secret)"
kms_check "after: none is left in the backend ($got)" [ "$got" = "0 0 0" ]
kms_run "a new RSA key" "${P[@]}" --keypairgen --key-type rsa:2048 --label rsa --id 01
: >"$KMS11_LOG"
kms_expect 0 "token init --force without a PIN file" "${K[@]}" token init --engine-id hsm --force --label hsm \
	--so-pin "$KMS_SO_PIN" --pin "$KMS_PIN"
got="$(backend_count priv) $(backend_count pub)"
kms_check "leaves the key whole in the backend ($got)" [ "$got" = "1 1" ]
kms_check "and says so" grep -q "initialised again without the pkcs11 engine's own PIN" "$KMS11_LOG"
kms_run "a new RSA key for what follows" "${P[@]}" --keypairgen --key-type rsa:2048 --label rsa --id 01

# An operation left half-done ends its backend session; a session key made before lives on (it was made in a
# session no operation uses).
kms_check "a session key outlives a backend session closed under a half-done operation" [ "$($PY - "$KMS11_MODULE" <<'PY'
import sys, PyKCS11
kl = PyKCS11.PyKCS11Lib(); kl.load(sys.argv[1])
kslot = [s for s in kl.getSlotList(tokenPresent=True) if kl.getTokenInfo(s).label.strip() == "hsm"][0]
a = kl.openSession(kslot, PyKCS11.CKF_RW_SESSION); a.login("1234")
key = a.generateKey([(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY), (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES),
                     (PyKCS11.CKA_VALUE_LEN, 32), (PyKCS11.CKA_TOKEN, False)], PyKCS11.Mechanism(PyKCS11.CKM_AES_KEY_GEN))
m = PyKCS11.Mechanism(PyKCS11.CKM_AES_ECB)
b = kl.openSession(kslot)
rv = b.lib.C_EncryptInit(b.session, m.to_native(), key)   # started, never finished
b.closeSession()
print(PyKCS11.CKR[rv], len(a.encrypt(key, bytes(32), m)))
PY
)" = "CKR_OK 32" ]

# --- failures ---
# init_rv CONF: C_Initialize's result (a CKR name) for that configuration.
init_rv() {
	KMS11_CONF="$1" $PY - "$KMS11_MODULE" <<'PY'
import sys, PyKCS11
try:
    lib = PyKCS11.PyKCS11Lib(); lib.load(sys.argv[1]); print("CKR_OK")
except PyKCS11.PyKCS11Error as e:
    print(PyKCS11.CKR[e.value])
PY
}
printf '[token:hsm]\nengine = pkcs11\nlibrary = %s\nbackend-token = kms11-backend\n' "$KMS_TMP/no-such-lib.so" >"$KMS_TMP/c1.conf"
: >"$KMS11_LOG"
kms_check "a missing library: C_Initialize answers CKR_GENERAL_ERROR" [ "$(init_rv "$KMS_TMP/c1.conf")" = CKR_GENERAL_ERROR ]
kms_check "and the log says why" grep -q "cannot load the backend library $KMS_TMP/no-such-lib.so" "$KMS11_LOG"

printf '9999\n' >"$KMS_TMP/wrong.pin"
chmod 0644 "$KMS_TMP/wrong.pin"
printf '[token:hsm]\nengine = pkcs11\nbackend-token = kms11-backend\nbackend-pin-file = %s\n' "$KMS_TMP/wrong.pin" \
	>"$KMS_TMP/c2.conf"
: >"$KMS11_LOG"
kms_check "a PIN file open to others: C_Initialize answers CKR_GENERAL_ERROR" [ "$(init_rv "$KMS_TMP/c2.conf")" = CKR_GENERAL_ERROR ]
kms_check "and the log names the file and its mode" grep -q "backend-pin-file $KMS_TMP/wrong.pin must be .* mode 0600 (it has mode 0644)" "$KMS11_LOG"
chmod 0600 "$KMS_TMP/wrong.pin"
: >"$KMS11_LOG"
kms_check "a wrong backend PIN: the kms11 login answers CKR_DEVICE_ERROR, not CKR_PIN_INCORRECT" [ "$(KMS11_CONF="$KMS_TMP/c2.conf" \
	$PY - "$KMS11_MODULE" <<'PY'
import sys, PyKCS11
lib = PyKCS11.PyKCS11Lib(); lib.load(sys.argv[1])
s = lib.openSession(lib.getSlotList()[0])
try:
    s.login("1234"); print("CKR_OK")
except PyKCS11.PyKCS11Error as e:
    print(PyKCS11.CKR[e.value])
PY
)" = CKR_DEVICE_ERROR ]
kms_check "and the log says the backend refused the PIN in the PIN file" grep -q "refused its login: CKR_PIN_INCORRECT (the PIN in the backend PIN file is wrong)" "$KMS11_LOG"
sed "s|$KMS_TMP/wrong.pin|$KMS_TMP/right.pin|" "$KMS_TMP/c2.conf" >"$KMS_TMP/c3.conf"
kms_run "with the right PIN file the HSM token signs" env KMS11_CONF="$KMS_TMP/c3.conf" "${P[@]}" --sign -m SHA256-RSA-PKCS --id 01 \
	-i "$KMS_TMP/msg" -o "$KMS_TMP/rsa2.sig"

printf '[token:soft]\nengine = openssl\n[token:hsm]\nengine = pkcs11\nbackend-token = no-such-token\n' >"$KMS_TMP/c4.conf"
kms_check "an absent backend token: its slot shows no token, the other token works" [ "$(KMS11_CONF="$KMS_TMP/c4.conf" \
	$PY - "$KMS11_MODULE" <<'PY'
import sys, PyKCS11
lib = PyKCS11.PyKCS11Lib(); lib.load(sys.argv[1])
all_, present = lib.getSlotList(), lib.getSlotList(tokenPresent=True)
hsm = [x for x in all_ if x not in present]
flags = lib.getSlotInfo(hsm[0]).flags if hsm else 0
try:
    lib.openSession(hsm[0]); opened = "CKR_OK"
except PyKCS11.PyKCS11Error as e:
    opened = PyKCS11.CKR[e.value]
s = lib.openSession(present[0], PyKCS11.CKF_RW_SESSION); s.login("1234")
pub, priv = s.generateKeyPair([(PyKCS11.CKA_EC_PARAMS, bytes.fromhex("06082a8648ce3d030107"))], [],
                              mecha=PyKCS11.MechanismECGENERATEKEYPAIR)
sig = s.sign(priv, b"x" * 32, PyKCS11.Mechanism(PyKCS11.CKM_ECDSA))
print(len(all_), len(present), bool(flags & PyKCS11.CKF_TOKEN_PRESENT), bool(flags & PyKCS11.CKF_REMOVABLE_DEVICE), opened, len(sig))
PY
)" = "2 1 False True CKR_TOKEN_NOT_PRESENT 64" ]

# Another part of the application uses SoftHSMv2 too: kms11 shares the library it started, and when that part closes
# every session of the backend token (which also logs it out), kms11 opens its sessions again, logs in again and
# signs on, without an error to its caller.
: >"$KMS11_LOG"
kms_check "a library shared with the application: kms11 recovers when the backend's sessions are closed under it" \
	[ "$($PY - "$KMS11_MODULE" "$SH" <<'PY'
import sys, PyKCS11
sh = PyKCS11.PyKCS11Lib(); sh.load(sys.argv[2])        # the application starts SoftHSMv2 first
kl = PyKCS11.PyKCS11Lib(); kl.load(sys.argv[1])        # then kms11, which finds it started
bslot = [s for s in sh.getSlotList(tokenPresent=True) if sh.getTokenInfo(s).label.strip() == "kms11-backend"][0]
kslot = [s for s in kl.getSlotList(tokenPresent=True) if kl.getTokenInfo(s).label.strip() == "hsm"][0]
s = kl.openSession(kslot); s.login("1234")
k = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_ID, (1,))])[0]
m = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS)
before = len(s.sign(k, b"before", m))
sh.closeAllSessions(bslot)                             # kms11's pooled backend sessions are gone, and the login
after = [len(s.sign(k, b"after %d" % i, m)) for i in range(3)]
print(before, after)
PY
)" = "256 [256, 256, 256]" ]
grep -q "its sessions are opened again" "$KMS11_LOG" && kms_ok "the log says the sessions were opened again" ||
	kms_fail "the log says the sessions were opened again"

# A process signs, the backend token is deleted under it, and it signs again: a clear error or a signature, never a
# crash; after the token is made again (new keys) the process is not left hanging.
kms_check "the backend token deleted while a process signs: no crash, a clear code" [ "$($PY - "$KMS11_MODULE" <<'PY'
import os, sys, subprocess, PyKCS11
lib = PyKCS11.PyKCS11Lib(); lib.load(sys.argv[1])
slot = [s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == "hsm"][0]
s = lib.openSession(slot); s.login("1234")
k = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_ID, (1,))])[0]
m = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS)
first = len(s.sign(k, b"before", m))
subprocess.run(["softhsm2-util", "--delete-token", "--token", "kms11-backend"], check=True, capture_output=True)
try:
    after = "signed %d" % len(s.sign(k, b"after", m))
except PyKCS11.PyKCS11Error as e:
    after = PyKCS11.CKR[e.value]
ok = after in ("signed 256", "CKR_DEVICE_ERROR", "CKR_DEVICE_REMOVED", "CKR_KEY_HANDLE_INVALID", "CKR_TOKEN_NOT_PRESENT")
print(first, "ok" if ok else after)
PY
)" = "256 ok" ]

kms_finish
