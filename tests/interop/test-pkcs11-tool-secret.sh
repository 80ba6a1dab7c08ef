#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Interop suite: pkcs11-tool with secret keys (AES, generic), AES-CBC-PAD, HMAC, digests, key wrapping,
# certificates and data objects; every result is checked against openssl, sha256sum or Python's cryptography.
# pkcs11-tool 0.23 has no AES-GCM (no --aad/--tag option): GCM is covered by the PyKCS11 suite.
. "$(dirname "$0")/common.sh"
kms_need pkcs11-tool openssl sha256sum xxd cmp python3

P=("${P11T[@]}" --login --pin "$KMS_PIN")
hex() { xxd -p -c 256 "$1"; }

kms_token_init
printf 'the quick brown fox jumps over the lazy dog, %s\n' "$RANDOM" >"$KMS_TMP/msg"
IV=000102030405060708090a0b0c0d0e0f

# Key generation.
kms_run "generate AES-128 key" "${P[@]}" --keygen --key-type AES:16 --label aes128 --id 20
kms_run "generate AES-256 key" "${P[@]}" --keygen --key-type AES:32 --label aes256 --id 21 --usage-decrypt
kms_run "generate generic secret key (extractable)" "${P[@]}" --keygen --key-type GENERIC:32 --label hmac1 --id 22 \
	--usage-sign --extractable
kms_run "list the secret keys" "${P11T[@]}" --login --pin "$KMS_PIN" --list-objects --type secrkey
kms_check "both AES keys are listed" [ "$(grep -c 'Secret Key Object; AES' "$KMS_TMP/last.log")" -eq 2 ]
kms_check "the generic key is listed" grep -q "Secret Key Object; Generic" "$KMS_TMP/last.log"

# The generated AES key is sensitive and not extractable by default.
if "${P[@]}" --read-object --type secrkey --id 21 -o "$KMS_TMP/leak" >"$KMS_TMP/last.log" 2>&1 && [ -s "$KMS_TMP/leak" ]; then
	kms_fail "a generated AES key (not extractable) cannot be read"
else
	kms_ok "a generated AES key (not extractable) cannot be read"
fi

# AES-CBC-PAD with a key of known value, against openssl enc; and round trip with a generated key.
head -c 32 /dev/urandom >"$KMS_TMP/aes.bin"
kms_run "import an AES-256 key by value" "${P[@]}" --write-object "$KMS_TMP/aes.bin" --type secrkey \
	--key-type AES:32 --label aesimp --id 23 --usage-decrypt
kms_run "encrypt with AES-CBC-PAD" "${P[@]}" --encrypt -m AES-CBC-PAD --iv "$IV" --id 23 -i "$KMS_TMP/msg" \
	-o "$KMS_TMP/ct"
openssl enc -aes-256-cbc -K "$(hex "$KMS_TMP/aes.bin")" -iv "$IV" -in "$KMS_TMP/msg" -out "$KMS_TMP/ct.ref"
kms_check "AES-CBC-PAD ciphertext equals openssl enc -aes-256-cbc" cmp -s "$KMS_TMP/ct" "$KMS_TMP/ct.ref"
kms_run "decrypt with AES-CBC-PAD" "${P[@]}" --decrypt -m AES-CBC-PAD --iv "$IV" --id 23 -i "$KMS_TMP/ct.ref" \
	-o "$KMS_TMP/pt"
kms_check "AES-CBC-PAD decryption gives the message back" cmp -s "$KMS_TMP/pt" "$KMS_TMP/msg"
kms_run "encrypt with the generated AES key" "${P[@]}" --encrypt -m AES-CBC-PAD --iv "$IV" --id 21 \
	-i "$KMS_TMP/msg" -o "$KMS_TMP/ct2"
kms_run "decrypt with the generated AES key" "${P[@]}" --decrypt -m AES-CBC-PAD --iv "$IV" --id 21 \
	-i "$KMS_TMP/ct2" -o "$KMS_TMP/pt2"
kms_check "generated-key round trip gives the message back" cmp -s "$KMS_TMP/pt2" "$KMS_TMP/msg"

# HMAC-SHA256 with the extractable generic key, against openssl mac.
if kms_run "read the extractable generic key" "${P[@]}" --read-object --type secrkey --id 22 -o "$KMS_TMP/hk.bin"; then
	kms_run "sign with SHA256-HMAC" "${P[@]}" --sign -m SHA256-HMAC --id 22 -i "$KMS_TMP/msg" -o "$KMS_TMP/mac"
	want=$(openssl mac -digest SHA256 -macopt "hexkey:$(hex "$KMS_TMP/hk.bin")" -in "$KMS_TMP/msg" HMAC |
		tr 'A-F' 'a-f')
	kms_check "HMAC-SHA256 equals openssl mac" [ "$(hex "$KMS_TMP/mac")" = "$want" ]
	kms_run "sign with SHA512-HMAC" "${P[@]}" --sign -m SHA512-HMAC --id 22 -i "$KMS_TMP/msg" -o "$KMS_TMP/mac512"
	want=$(openssl mac -digest SHA512 -macopt "hexkey:$(hex "$KMS_TMP/hk.bin")" -in "$KMS_TMP/msg" HMAC |
		tr 'A-F' 'a-f')
	kms_check "HMAC-SHA512 equals openssl mac" [ "$(hex "$KMS_TMP/mac512")" = "$want" ]
fi

# Digests.
for h in SHA256 SHA384 SHA512; do
	kms_run "digest with $h" "${P11T[@]}" --hash -m "$h" -i "$KMS_TMP/msg" -o "$KMS_TMP/$h"
	want=$(openssl dgst "-${h,,}" -r "$KMS_TMP/msg" | cut -d' ' -f1)
	kms_check "$h digest equals openssl dgst" [ "$(hex "$KMS_TMP/$h")" = "$want" ]
done
kms_check "SHA256 digest equals sha256sum" [ "$(hex "$KMS_TMP/SHA256")" = "$(sha256sum "$KMS_TMP/msg" | cut -d' ' -f1)" ]

# Wrap and unwrap with AES key wrap (RFC 3394): the wrapped bytes equal Python's aes_key_wrap.
kms_run "generate an extractable wrapping key" "${P[@]}" --keygen --key-type AES:32 --label kek --id 41 \
	--usage-wrap --extractable
"${P[@]}" --read-object --type secrkey --id 41 -o "$KMS_TMP/kek.bin" >"$KMS_TMP/last.log" 2>&1 || true
if kms_run "wrap the generic key with AES-KEY-WRAP" "${P[@]}" --wrap -m AES-KEY-WRAP --id 41 --application-id 22 \
	-o "$KMS_TMP/wrapped"; then
	kms_check "the wrapped key equals RFC 3394 computed by cryptography" python3 - "$KMS_TMP" <<'PY'
import sys
from cryptography.hazmat.primitives.keywrap import aes_key_wrap
d = sys.argv[1]
kek, key, w = (open(f"{d}/{n}", "rb").read() for n in ("kek.bin", "hk.bin", "wrapped"))
sys.exit(0 if aes_key_wrap(kek, key) == w else 1)
PY
	kms_run "unwrap it as a new key" "${P[@]}" --unwrap -m AES-KEY-WRAP --id 41 -i "$KMS_TMP/wrapped" \
		--key-type GENERIC:32 --application-id 44 --application-label unwrapped --extractable
	kms_run "read the unwrapped key" "${P[@]}" --read-object --type secrkey --id 44 -o "$KMS_TMP/u.bin"
	kms_check "the unwrapped key has the original value" cmp -s "$KMS_TMP/u.bin" "$KMS_TMP/hk.bin"
fi
if "${P[@]}" --wrap -m AES-KEY-WRAP --id 41 --application-id 21 -o "$KMS_TMP/nowrap" >"$KMS_TMP/last.log" 2>&1; then
	kms_fail "a non-extractable key is not wrapped"
else
	kms_check "a non-extractable key is not wrapped (CKR_KEY_UNEXTRACTABLE)" grep -q "CKR_KEY_UNEXTRACTABLE" \
		"$KMS_TMP/last.log"
fi

# A certificate and a data object, written and read back byte for byte.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$KMS_TMP/ck.pem" \
	-out "$KMS_TMP/c.der" -outform DER -subj /CN=kms11-cert -days 3 2>/dev/null
kms_run "write a certificate" "${P[@]}" --write-object "$KMS_TMP/c.der" --type cert --id 01 --label c1
kms_check "pkcs11-tool shows the certificate's subject" grep -q "CN=kms11-cert" "$KMS_TMP/last.log"
kms_run "read the certificate" "${P11T[@]}" --read-object --type cert --id 01 -o "$KMS_TMP/c2.der"
kms_check "the certificate reads back identical" cmp -s "$KMS_TMP/c.der" "$KMS_TMP/c2.der"
printf 'some application data %s' "$RANDOM" >"$KMS_TMP/d.bin"
kms_run "write a data object" "${P[@]}" --write-object "$KMS_TMP/d.bin" --type data --application-label app1 \
	--label d1
kms_run "read the data object" "${P[@]}" --read-object --type data --application-label app1 -o "$KMS_TMP/d2.bin"
kms_check "the data object reads back identical" cmp -s "$KMS_TMP/d.bin" "$KMS_TMP/d2.bin"

# The mechanism list names the new mechanisms.
kms_run "list mechanisms" "${P11T[@]}" -M
for m in AES-KEY-GEN AES-CBC-PAD AES-GCM AES-CTR AES-KEY-WRAP AES-CMAC SHA256-HMAC SHA3-256 ECDH1-DERIVE; do
	kms_check "mechanism list has $m" grep -q "^ *$m," "$KMS_TMP/last.log"
done

kms_finish
