#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kms11 key import: private keys in every form openssl writes them (PKCS#8 PEM and DER, encrypted PKCS#8,
# PKCS#1, SEC1, Ed25519), public keys and secrets; the imported keys are the given keys (openssl verifies their
# signatures with the original public keys, python3-cryptography and openssl compute the same AES-GCM and HMAC);
# refusals with their exit codes.
. "$(dirname "$0")/common.sh"
kms_need openssl python3
: "${KMS11_CLI:?KMS11_CLI must name the kms11 tool}"
K=("$KMS11_CLI")
PY=/usr/bin/python3
unset KMS11_SO_PIN
[ "${KMS11_TEST_ENGINE:-openssl}" = pkcs11 ] || unset KMS11_CONF
export KMS11_PIN="$KMS_PIN"
"${K[@]}" token init --label "$KMS_LABEL" --so-pin "$KMS_SO_PIN" --pin "$KMS_PIN" >/dev/null || kms_die "token init"

b64() { base64 -w0 <"$1"; }
printf 'imported keys sign this' >"$KMS_TMP/msg"
msg=$(b64 "$KMS_TMP/msg")
T=$KMS_TMP

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$T/ec.pem" 2>/dev/null
openssl pkey -in "$T/ec.pem" -pubout -out "$T/ec.pub"
openssl ec -in "$T/ec.pem" -out "$T/ec-sec1.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.pem" 2>/dev/null
openssl pkey -in "$T/rsa.pem" -pubout -out "$T/rsa.pub"
openssl pkcs8 -topk8 -in "$T/rsa.pem" -v2 aes-256-cbc -passout pass:s3cret -out "$T/rsa-enc.pem"
openssl rsa -in "$T/rsa.pem" -traditional -out "$T/rsa-pkcs1.pem" 2>/dev/null
openssl pkey -in "$T/rsa.pem" -outform DER -out "$T/rsa.der"
openssl genpkey -algorithm ED25519 -out "$T/ed.pem" 2>/dev/null
openssl pkey -in "$T/ed.pem" -pubout -out "$T/ed.pub"
kms_check "the SEC1 file is SEC1" grep -q "BEGIN EC PRIVATE KEY" "$T/ec-sec1.pem"
kms_check "the PKCS#1 file is PKCS#1" grep -q "BEGIN RSA PRIVATE KEY" "$T/rsa-pkcs1.pem"

# signs NAME ALG MD PUB [OPTS...]: kms11 signs, openssl verifies with the original public key.
signs() {
	local name=$1 alg=$2 md=$3 pub=$4
	shift 4
	"${K[@]}" key sign "$name" --algorithm "$alg" --message "$msg" >"$T/s.json" 2>&1 || { kms_fail "sign $name"; return; }
	kms_json "$T/s.json" 'd["signature"]' | base64 -d >"$T/sig"
	if [ "$md" = none ]; then
		kms_check "openssl verifies $name's signature with the original key" openssl pkeyutl -verify -pubin \
			-inkey "$pub" -rawin -in "$T/msg" -sigfile "$T/sig"
	else
		kms_check "openssl verifies $name's signature with the original key" openssl dgst "-$md" -verify "$pub" "$@" \
			-signature "$T/sig" "$T/msg"
	fi
}

kms_expect 0 "import a P-384 PKCS#8 PEM key" "${K[@]}" key import --private-key "$(b64 "$T/ec.pem")" --name ec --tag imp
kms_check "ECDSA 384 with its private key, tagged" [ "$(kms_json "$T/out.json" '(d["algorithm"], d["size"], d["has_private_key"],
	d["tags"], d["extractable"])')" = "('ECDSA', 384, True, ['imp'], False)" ]
kms_check "its key id is the SHA-256 of the SubjectPublicKeyInfo" [ "$(kms_json "$T/out.json" 'd["key_id"]')" = \
	"$(openssl pkey -pubin -in "$T/ec.pub" -outform DER | sha256sum | cut -d' ' -f1)" ]
signs ec ECDSA_SHA_384 sha384 "$T/ec.pub"
kms_expect 4 "the same key again (as SEC1)" "${K[@]}" key import --private-key "$(b64 "$T/ec-sec1.pem")" --name ec2
kms_check "the error names the key there" grep -q "as 'ec'" "$T/err.json"
kms_expect 4 "its public key alone" "${K[@]}" key import --public-key "$(b64 "$T/ec.pub")" --name ec3
"${K[@]}" key delete ec >/dev/null || kms_fail "delete ec"
kms_expect 0 "import it as SEC1" "${K[@]}" key import --private-key "$(b64 "$T/ec-sec1.pem")" --name ec-sec1
signs ec-sec1 ECDSA_SHA_256 sha256 "$T/ec.pub"

kms_expect 2 "an encrypted PKCS#8 key without --passphrase" "${K[@]}" key import --private-key "$(b64 "$T/rsa-enc.pem")" \
	--name rsa
kms_expect 2 "... with a wrong passphrase" "${K[@]}" key import --private-key "$(b64 "$T/rsa-enc.pem")" --passphrase nope \
	--name rsa
kms_expect 0 "... with its passphrase" "${K[@]}" key import --private-key "$(b64 "$T/rsa-enc.pem")" --passphrase s3cret \
	--name rsa
kms_check "RSA 2048" [ "$(kms_json "$T/out.json" '(d["algorithm"], d["size"])')" = "('RSA', 2048)" ]
signs rsa RSASSA_PSS_SHA_256 sha256 "$T/rsa.pub" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest
"${K[@]}" key delete rsa >/dev/null || kms_fail "delete rsa"
kms_expect 0 "import the RSA key as PKCS#1 PEM" "${K[@]}" key import --private-key "$(b64 "$T/rsa-pkcs1.pem")" --name rsa1
signs rsa1 RSASSA_PKCS1_V1_5_SHA_256 sha256 "$T/rsa.pub"
"${K[@]}" key delete rsa1 >/dev/null || kms_fail "delete rsa1"
kms_expect 0 "import the RSA key as PKCS#8 DER" "${K[@]}" key import --private-key "$(b64 "$T/rsa.der")" --name rsa2
signs rsa2 RSASSA_PKCS1_V1_5_SHA_512 sha512 "$T/rsa.pub"
kms_expect 0 "import an Ed25519 key" "${K[@]}" key import --private-key "$(b64 "$T/ed.pem")" --name ed
signs ed ED25519 none "$T/ed.pub"

# A public key alone verifies openssl's signatures and signs nothing.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/v.pem" 2>/dev/null
openssl pkey -in "$T/v.pem" -pubout -out "$T/v.pub"
openssl dgst -sha256 -sign "$T/v.pem" -out "$T/v.sig" "$T/msg"
kms_expect 0 "import a public key" "${K[@]}" key import --public-key "$(b64 "$T/v.pub")" --name verifier
kms_check "has_private_key false" [ "$(kms_json "$T/out.json" 'd["has_private_key"]')" = False ]
kms_expect 0 "it verifies openssl's signature" "${K[@]}" key verify verifier --algorithm ECDSA_SHA_256 --message "$msg" \
	--signature "$(b64 "$T/v.sig")"
kms_check "valid" [ "$(kms_json "$T/out.json" 'd["valid"]')" = True ]
kms_expect 2 "it signs nothing" "${K[@]}" key sign verifier --algorithm ECDSA_SHA_256 --message "$msg"

# Secrets: the same AES-GCM as python3-cryptography, the same HMAC as openssl.
aes=$($PY -c 'import os,base64; print(base64.b64encode(os.urandom(32)).decode())')
kms_expect 0 "import an AES-256 secret" "${K[@]}" key import --secret "$aes" --algorithm AES --name aes
kms_expect 0 "encrypt with it" "${K[@]}" key encrypt aes --plaintext "$msg"
kms_check "python3-cryptography decrypts it with the imported bytes" [ "$($PY - "$aes" \
	"$(kms_json "$T/out.json" 'd["ciphertext"]')" <<'PY'
import base64, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
raw = base64.b64decode(sys.argv[2].split(":", 2)[2])
print(base64.b64encode(AESGCM(base64.b64decode(sys.argv[1])).decrypt(raw[:12], raw[12:], None)).decode())
PY
)" = "$msg" ]
hkey=$($PY -c 'import os; print(os.urandom(48).hex())')
kms_expect 0 "import a 384-bit HMAC secret" "${K[@]}" key import --algorithm HMAC --name mac \
	--secret "$(printf %s "$hkey" | xxd -r -p | base64 -w0)"
kms_expect 0 "hmac with it" "${K[@]}" key hmac mac --message "$msg"
kms_check "the same HMAC-SHA-384 as openssl" [ "$(kms_json "$T/out.json" 'd["mac"]')" = \
	"$(openssl mac -digest SHA384 -macopt "hexkey:$hkey" -binary -in "$T/msg" HMAC | base64 -w0)" ]

kms_expect 2 "a secret of 20 bytes for AES" "${K[@]}" key import --secret "$(head -c 20 /dev/zero | base64)" \
	--algorithm AES --name bad
kms_expect 2 "a secret without --algorithm" "${K[@]}" key import --secret "$aes" --name bad
kms_expect 2 "two things at once" "${K[@]}" key import --secret "$aes" --algorithm AES --public-key "$(b64 "$T/v.pub")" \
	--name bad
kms_expect 2 "data that is no key" "${K[@]}" key import --private-key "$(printf 'hello' | base64)" --name bad
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$T/small.pem" 2>/dev/null
kms_expect 2 "an RSA-1024 key" "${K[@]}" key import --private-key "$(b64 "$T/small.pem")" --name small
kms_expect 4 "a name taken" "${K[@]}" key import --public-key "$(b64 "$T/ed.pub")" --name aes
kms_expect 0 "list: no key called bad or small" "${K[@]}" key count --filter 'name[in]bad,small'
kms_check "none" [ "$(kms_json "$T/out.json" 'd["count"]')" = 0 ]

# --- bring your own key: material wrapped by python3-cryptography for this token ---
kms_expect 0 "wrapping-key" "${K[@]}" wrapping-key
kms_check "an RSA-3072 key for RSA_AES_KEY_WRAP_SHA_256" [ "$(kms_json "$T/out.json" 'd["algorithm"]')" = RSA_AES_KEY_WRAP_SHA_256 ]
kms_json "$T/out.json" 'd["public_key"]' | base64 -d >"$T/wk.pem"
kms_check "openssl reads it as RSA 3072" bash -c "openssl pkey -pubin -in '$T/wk.pem' -noout -text | grep -q '3072 bit'"
kms_expect 0 "wrapping-key again" "${K[@]}" wrapping-key
kms_check "is the same key" [ "$(kms_json "$T/out.json" 'd["public_key"]' | base64 -d)" = "$(cat "$T/wk.pem")" ]
cat >"$T/wrap.py" <<'PY'
import base64, os, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
pub = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
payload = open(sys.argv[2], "rb").read()
if sys.argv[3] == "pkcs8":
    payload = serialization.load_pem_private_key(payload, None).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
aes = os.urandom(32)
oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
print(base64.b64encode(pub.encrypt(aes, oaep) + aes_key_wrap_with_padding(aes, payload)).decode())
PY
head -c 32 /dev/urandom >"$T/byok.aes"
kms_expect 0 "import --wrapped AES" "${K[@]}" key import --wrapped "$($PY "$T/wrap.py" "$T/wk.pem" "$T/byok.aes" raw)" \
	--algorithm AES --name byok-aes
kms_expect 0 "encrypt with it" "${K[@]}" key encrypt byok-aes --plaintext "$msg"
kms_check "the brought key is the key (python3-cryptography decrypts)" [ "$($PY - "$(b64 "$T/byok.aes")" \
	"$(kms_json "$T/out.json" 'd["ciphertext"]')" <<'PY'
import base64, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
raw = base64.b64decode(sys.argv[2].split(":", 2)[2])
print(base64.b64encode(AESGCM(base64.b64decode(sys.argv[1])).decrypt(raw[:12], raw[12:], None)).decode())
PY
)" = "$msg" ]
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/byok-ec.pem" 2>/dev/null
openssl pkey -in "$T/byok-ec.pem" -pubout -out "$T/byok-ec.pub"
kms_expect 0 "import --wrapped ECDSA (PKCS#8)" "${K[@]}" key import --wrapped \
	"$($PY "$T/wrap.py" "$T/wk.pem" "$T/byok-ec.pem" pkcs8)" --algorithm ECDSA --name byok-ec
kms_check "a key pair, key id of the brought key" [ "$(kms_json "$T/out.json" '(d["has_private_key"], d["key_id"])')" = \
	"(True, '$(openssl pkey -pubin -in "$T/byok-ec.pub" -outform DER | sha256sum | cut -d' ' -f1)')" ]
signs byok-ec ECDSA_SHA_256 sha256 "$T/byok-ec.pub"
kms_expect 2 "import --wrapped with the wrong algorithm" "${K[@]}" key import --wrapped \
	"$($PY "$T/wrap.py" "$T/wk.pem" "$T/byok-ec.pem" pkcs8)" --algorithm RSA --name byok-bad
kms_expect 2 "import --wrapped of garbage" "${K[@]}" key import --wrapped "$(head -c 400 /dev/urandom | base64 -w0)" \
	--algorithm AES --name byok-bad

# --- export: extractable keys only ---
kms_expect 0 "create an extractable AES key" "${K[@]}" key create --algorithm AES --name ex-aes --extractable
kms_check "extractable true" [ "$(kms_json "$T/out.json" 'd["extractable"]')" = True ]
kms_expect 0 "export --plaintext" "${K[@]}" key export ex-aes --plaintext
exported=$(kms_json "$T/out.json" 'd["key_material"]')
kms_expect 0 "encrypt with the key" "${K[@]}" key encrypt ex-aes --plaintext "$msg"
kms_check "the exported bytes decrypt it" [ "$($PY - "$exported" "$(kms_json "$T/out.json" 'd["ciphertext"]')" <<'PY'
import base64, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
raw = base64.b64decode(sys.argv[2].split(":", 2)[2])
print(base64.b64encode(AESGCM(base64.b64decode(sys.argv[1])).decrypt(raw[:12], raw[12:], None)).decode())
PY
)" = "$msg" ]
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$T/recv.pem" 2>/dev/null
openssl pkey -in "$T/recv.pem" -pubout -out "$T/recv.pub"
kms_expect 0 "export --wrapping-key (the receiver's RSA key)" "${K[@]}" key export ex-aes --wrapping-key "$(b64 "$T/recv.pub")"
kms_check "the receiver unwraps the same bytes" [ "$($PY - "$T/recv.pem" "$(kms_json "$T/out.json" 'd["key_material"]')" <<'PY'
import base64, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding
priv = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
blob = base64.b64decode(sys.argv[2])
n = priv.key_size // 8
oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
print(base64.b64encode(aes_key_unwrap_with_padding(priv.decrypt(blob[:n], oaep), blob[n:])).decode())
PY
)" = "$exported" ]
kms_expect 0 "create an extractable ECDSA key" "${K[@]}" key create --algorithm ECDSA --name ex-ec --extractable
kms_json "$T/out.json" 'd["public_key"]' | base64 -d >"$T/ex-ec.pub"
kms_expect 0 "export its private key in plaintext" "${K[@]}" key export ex-ec --plaintext
kms_check "openssl reads the PKCS#8 and finds the key's public key" [ "$(kms_json "$T/out.json" 'd["key_material"]' |
	base64 -d | openssl pkey -inform DER -pubout)" = "$(cat "$T/ex-ec.pub")" ]
kms_expect 5 "export of a key not made extractable" "${K[@]}" key export aes --plaintext
kms_expect 5 "... wrapped either" "${K[@]}" key export aes --wrapping-key "$(b64 "$T/recv.pub")"
kms_expect 2 "export with neither option" "${K[@]}" key export ex-aes
kms_finish
