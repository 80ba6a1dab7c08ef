#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Interop suite: pkcs11-tool with secret keys (AES, generic), AES-ECB/CBC/CBC-PAD, HMAC, digests, key wrapping,
# ECDH derivation, certificates and data objects; every result is checked against openssl, sha256sum or
# Python's cryptography.
#
# What pkcs11-tool 0.23 cannot do, and so is covered by test-pykcs11-secret.py instead:
#  - AES-GCM and AES-CTR: --encrypt/--decrypt know only AES-ECB, AES-CBC and AES-CBC-PAD (no --aad, no tag
#    length, "Mechanism AES-CTR illegal or not supported");
#  - AES-CMAC: --sign looks for a private key, or a secret key only for the *-HMAC mechanisms
#    ("Private key not found");
#  - RSA-OAEP wrapping: --wrap passes no mechanism parameter;
#  - X25519: --keypairgen EC:curve25519 asks CKM_EC_KEY_PAIR_GEN for the curve (the module rightly answers
#    CKR_DOMAIN_PARAMS_INVALID; Montgomery keys come from CKM_EC_MONTGOMERY_KEY_PAIR_GEN);
#  - the default attributes of a secret key: --keygen and --write-object always send CKA_SENSITIVE and
#    CKA_PRIVATE (false unless --sensitive/--private).
# pkcs11-tool 0.23 also asks every key for CKA_ALWAYS_AUTHENTICATE and warns when a secret key answers
# CKR_ATTRIBUTE_TYPE_INVALID (the right answer: that attribute belongs to private keys); the warning is harmless.
. "$(dirname "$0")/common.sh"
kms_need pkcs11-tool openssl sha256sum xxd cmp python3 stat

# Debian's python3 has python3-cryptography (a version manager's python3 may come first in PATH).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
P=("${P11T[@]}" --login --pin "$KMS_PIN")
hex() { xxd -p -c 256 "$1"; }

kms_token_init
printf 'the quick brown fox jumps over the lazy dog, %s\n' "$RANDOM" >"$KMS_TMP/msg"
head -c 64 /dev/urandom >"$KMS_TMP/blocks"
IV=000102030405060708090a0b0c0d0e0f

# Key generation.
kms_run "generate AES-128 key" "${P[@]}" --keygen --key-type AES:16 --label aes128 --id 20
kms_run "generate AES-256 key" "${P[@]}" --keygen --key-type AES:32 --label aes256 --id 21 --usage-decrypt
kms_run "generate generic secret key (extractable)" "${P[@]}" --keygen --key-type GENERIC:32 --label hmac1 --id 22 \
	--usage-sign --extractable
kms_run "list the secret keys" "${P11T[@]}" --login --pin "$KMS_PIN" --list-objects --type secrkey
kms_check "both AES keys are listed" [ "$(grep -c 'Secret Key Object; AES' "$KMS_TMP/last.log")" -eq 2 ]
kms_check "the AES-128 key is 16 bytes" grep -q "Secret Key Object; AES length 16" "$KMS_TMP/last.log"
kms_check "the AES-256 key is 32 bytes" grep -q "Secret Key Object; AES length 32" "$KMS_TMP/last.log"
kms_check "the generic key is listed" grep -q "Secret Key Object; Generic" "$KMS_TMP/last.log"

# A generated key without --extractable cannot be read.
if kms_try "${P[@]}" --read-object --type secrkey --id 21 -o "$KMS_TMP/leak" && [ -s "$KMS_TMP/leak" ]; then
	kms_fail "a generated AES key (not extractable) cannot be read"
else
	kms_ok "a generated AES key (not extractable) cannot be read"
fi

# AES with keys of known value against openssl enc; round trips with the generated keys.
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

head -c 16 /dev/urandom >"$KMS_TMP/aes128.bin"
kms_run "import an extractable AES-128 key by value" "${P[@]}" --write-object "$KMS_TMP/aes128.bin" --type secrkey \
	--key-type AES:16 --label aes128imp --id 24 --usage-decrypt --extractable
kms_run "read the extractable AES-128 key" "${P[@]}" --read-object --type secrkey --id 24 -o "$KMS_TMP/aes128.out"
kms_check "the AES-128 key reads back with its value" cmp -s "$KMS_TMP/aes128.bin" "$KMS_TMP/aes128.out"
for mode in ECB CBC; do
	ivopt=()
	[ "$mode" = ECB ] || ivopt=(--iv "$IV")
	kms_run "encrypt with AES-$mode" "${P[@]}" --encrypt -m "AES-$mode" "${ivopt[@]}" --id 24 -i "$KMS_TMP/blocks" \
		-o "$KMS_TMP/ct.$mode"
	openssl enc "-aes-128-${mode,,}" -nopad -K "$(hex "$KMS_TMP/aes128.bin")" "${ivopt[@]/--iv/-iv}" \
		-in "$KMS_TMP/blocks" -out "$KMS_TMP/ct.$mode.ref"
	kms_check "AES-128-$mode ciphertext equals openssl enc" cmp -s "$KMS_TMP/ct.$mode" "$KMS_TMP/ct.$mode.ref"
	kms_run "decrypt with AES-$mode" "${P[@]}" --decrypt -m "AES-$mode" "${ivopt[@]}" --id 24 \
		-i "$KMS_TMP/ct.$mode.ref" -o "$KMS_TMP/pt.$mode"
	kms_check "AES-128-$mode decryption gives the blocks back" cmp -s "$KMS_TMP/pt.$mode" "$KMS_TMP/blocks"
done

for id in 20 21; do
	kms_run "encrypt with the generated AES key $id" "${P[@]}" --encrypt -m AES-CBC-PAD --iv "$IV" --id "$id" \
		-i "$KMS_TMP/msg" -o "$KMS_TMP/ct.$id"
	kms_run "decrypt with the generated AES key $id" "${P[@]}" --decrypt -m AES-CBC-PAD --iv "$IV" --id "$id" \
		-i "$KMS_TMP/ct.$id" -o "$KMS_TMP/pt.$id"
	kms_check "generated-key $id round trip gives the message back" cmp -s "$KMS_TMP/pt.$id" "$KMS_TMP/msg"
done
kms_check "the two generated keys differ" [ "$(hex "$KMS_TMP/ct.20")" != "$(hex "$KMS_TMP/ct.21")" ]

# HMAC with the extractable generic key, against openssl mac and openssl dgst -hmac.
if kms_run "read the extractable generic key" "${P[@]}" --read-object --type secrkey --id 22 -o "$KMS_TMP/hk.bin"; then
	kms_check "the generic key is 32 bytes" [ "$(stat -c %s "$KMS_TMP/hk.bin")" -eq 32 ]
	for h in SHA256 SHA384 SHA512; do
		kms_run "sign with $h-HMAC" "${P[@]}" --sign -m "$h-HMAC" --id 22 -i "$KMS_TMP/msg" -o "$KMS_TMP/mac.$h" ||
			continue
		want=$(openssl mac -digest "$h" -macopt "hexkey:$(hex "$KMS_TMP/hk.bin")" -in "$KMS_TMP/msg" HMAC |
			tr 'A-F' 'a-f')
		kms_check "HMAC-$h equals openssl mac" [ "$(hex "$KMS_TMP/mac.$h")" = "$want" ]
	done
	want=$(openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(hex "$KMS_TMP/hk.bin")" -r "$KMS_TMP/msg" | cut -d' ' -f1)
	kms_check "HMAC-SHA256 equals openssl dgst -mac HMAC" [ "$(hex "$KMS_TMP/mac.SHA256")" = "$want" ]
	# pkcs11-tool 0.23's --verify exits 0 on a bad signature too: its message is the verdict.
	if kms_try "${P[@]}" --verify -m SHA256-HMAC --id 22 -i "$KMS_TMP/msg" --signature-file "$KMS_TMP/mac.SHA256" &&
		grep -q "^Signature is valid" "$KMS_TMP/last.log"; then
		kms_ok "pkcs11-tool --verify accepts the HMAC"
	else
		kms_fail "pkcs11-tool --verify accepts the HMAC"
		sed 's/^/    | /' "$KMS_TMP/last.log"
	fi
	first=$(head -c 1 "$KMS_TMP/mac.SHA256" | xxd -p)
	{ printf '%02x' $((0x$first ^ 1)) | xxd -r -p; tail -c +2 "$KMS_TMP/mac.SHA256"; } >"$KMS_TMP/mac.bad"
	kms_try "${P[@]}" --verify -m SHA256-HMAC --id 22 -i "$KMS_TMP/msg" --signature-file "$KMS_TMP/mac.bad" || true
	kms_check "pkcs11-tool --verify rejects a wrong HMAC" grep -q "Invalid signature" "$KMS_TMP/last.log"
fi

# Digests.
for h in SHA-1 SHA224 SHA256 SHA384 SHA512 SHA3-256 SHA3-384 SHA3-512; do
	kms_run "digest with $h" "${P11T[@]}" --hash -m "$h" -i "$KMS_TMP/msg" -o "$KMS_TMP/$h" || continue
	lh=${h,,}
	want=$(openssl dgst "-${lh/sha-1/sha1}" -r "$KMS_TMP/msg" | cut -d' ' -f1)
	kms_check "$h digest equals openssl dgst" [ "$(hex "$KMS_TMP/$h")" = "$want" ]
done
kms_check "SHA256 digest equals sha256sum" \
	[ "$(hex "$KMS_TMP/SHA256")" = "$(sha256sum "$KMS_TMP/msg" | cut -d' ' -f1)" ]

# Wrap and unwrap with AES key wrap (RFC 3394) and with padding (RFC 5649): the wrapped bytes equal Python's.
kms_run "generate an extractable wrapping key" "${P[@]}" --keygen --key-type AES:32 --label kek --id 41 \
	--usage-wrap --extractable
kms_try "${P[@]}" --read-object --type secrkey --id 41 -o "$KMS_TMP/kek.bin" || true
if kms_run "wrap the generic key with AES-KEY-WRAP" "${P[@]}" --wrap -m AES-KEY-WRAP --id 41 --application-id 22 \
	-o "$KMS_TMP/wrapped"; then
	kms_check "the wrapped key equals RFC 3394 computed by cryptography" "$PY" - "$KMS_TMP" <<'PY'
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
kms_run "generate a 20-byte extractable generic key" "${P[@]}" --keygen --key-type GENERIC:20 --label odd --id 45 \
	--extractable
kms_try "${P[@]}" --read-object --type secrkey --id 45 -o "$KMS_TMP/odd.bin" || true
# pkcs11-tool 0.23 has no names for CKM_AES_KEY_WRAP_PAD (0x210A) and CKM_AES_KEY_WRAP_KWP (0x210B); it takes
# the numbers.
for mech in 0x210A 0x210B; do
	if kms_run "wrap a 20-byte key with $mech" "${P[@]}" --wrap -m "$mech" --id 41 --application-id 45 \
		-o "$KMS_TMP/wrapped.$mech"; then
		kms_check "the $mech wrapped key equals RFC 5649 computed by cryptography" "$PY" - "$KMS_TMP" "$mech" <<'PY'
import sys
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
d = sys.argv[1]
kek, key, w = (open(f"{d}/{n}", "rb").read() for n in ("kek.bin", "odd.bin", "wrapped." + sys.argv[2]))
sys.exit(0 if len(key) == 20 and aes_key_wrap_with_padding(kek, key) == w else 1)
PY
	fi
done
if kms_run "unwrap the RFC 5649 blob" "${P[@]}" --unwrap -m 0x210B --id 41 -i "$KMS_TMP/wrapped.0x210B" \
	--key-type GENERIC:20 --application-id 46 --application-label unwrapped20 --extractable; then
	kms_run "read the unwrapped 20-byte key" "${P[@]}" --read-object --type secrkey --id 46 -o "$KMS_TMP/u20.bin"
	kms_check "the unwrapped 20-byte key has the original value" cmp -s "$KMS_TMP/u20.bin" "$KMS_TMP/odd.bin"
fi
if "${P[@]}" --wrap -m AES-KEY-WRAP --id 41 --application-id 21 -o "$KMS_TMP/nowrap" >"$KMS_TMP/last.log" 2>&1; then
	kms_fail "a non-extractable key is not wrapped"
else
	kms_check "a non-extractable key is not wrapped (CKR_KEY_UNEXTRACTABLE)" grep -q "CKR_KEY_UNEXTRACTABLE" \
		"$KMS_TMP/last.log"
fi

# ECDH (CKD_NULL) with a module key and a peer made by openssl: both sides get the same secret. The module's
# public key comes through libp11's engine: pkcs11-tool 0.23 --read-object --type pubkey fails on every P-384
# key with "cannot create EVP_PKEY" (against SoftHSMv2 too).
kms_engine_conf </dev/null
ENGINE_CONF=$OPENSSL_CONF
unset OPENSSL_CONF
for curve in prime256v1:P-256 secp384r1:P-384 secp521r1:P-521; do
	name=${curve#*:}
	id=5${name#P-}
	kms_run "generate a $name derive key pair" "${P[@]}" --keypairgen --key-type "EC:${curve%%:*}" \
		--label "dh-$name" --id "$id" --usage-derive || continue
	openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$name" -out "$KMS_TMP/peer-$name.pem"
	openssl pkey -in "$KMS_TMP/peer-$name.pem" -pubout -outform DER -out "$KMS_TMP/peer-$name.der"
	kms_run "pkcs11-tool --derive ECDH1-DERIVE on $name" "${P[@]}" --derive -m ECDH1-DERIVE --id "$id" \
		-i "$KMS_TMP/peer-$name.der" -o "$KMS_TMP/z-$name.bin" || continue
	kms_check "the $name shared secret is $(((${name#P-} + 7) / 8)) bytes" \
		[ "$(stat -c %s "$KMS_TMP/z-$name.bin")" -eq $(((${name#P-} + 7) / 8)) ]
	kms_try env OPENSSL_CONF="$ENGINE_CONF" openssl pkey -engine pkcs11 -inform engine -pubin \
		-in "pkcs11:token=$KMS_LABEL;object=dh-$name;type=public" -pubout -outform DER -out "$KMS_TMP/mine-$name.der" ||
		sed 's/^/    | /' "$KMS_TMP/last.log"
	kms_try openssl pkeyutl -derive -inkey "$KMS_TMP/peer-$name.pem" -peerkey "$KMS_TMP/mine-$name.der" \
		-peerform DER -out "$KMS_TMP/zref-$name.bin" || true
	kms_check "$name shared secret equals openssl pkeyutl -derive" cmp -s "$KMS_TMP/z-$name.bin" "$KMS_TMP/zref-$name.bin"
done

# A certificate and a data object, written and read back byte for byte.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$KMS_TMP/ck.pem" \
	-out "$KMS_TMP/c.der" -outform DER -subj /CN=kms11-cert -days 3 2>/dev/null
kms_run "write a certificate" "${P[@]}" --write-object "$KMS_TMP/c.der" --type cert --id 01 --label c1
kms_check "pkcs11-tool shows the certificate's subject" grep -q "CN=kms11-cert" "$KMS_TMP/last.log"
kms_run "read the certificate" "${P11T[@]}" --read-object --type cert --id 01 -o "$KMS_TMP/c2.der"
kms_check "the certificate reads back identical" cmp -s "$KMS_TMP/c.der" "$KMS_TMP/c2.der"
kms_run "list certificates without login" "${P11T[@]}" --list-objects --type cert
kms_check "the certificate is public and listed with its label" grep -q "label: *c1" "$KMS_TMP/last.log"
printf 'some application data %s' "$RANDOM" >"$KMS_TMP/d.bin"
kms_run "write a data object" "${P[@]}" --write-object "$KMS_TMP/d.bin" --type data --application-label app \
	--label d1
kms_run "read the data object" "${P[@]}" --read-object --type data --application-label app -o "$KMS_TMP/d2.bin"
kms_check "the data object reads back identical" cmp -s "$KMS_TMP/d.bin" "$KMS_TMP/d2.bin"
kms_run "list data objects" "${P[@]}" --list-objects --type data
kms_check "the data object is listed with its application" grep -q "application: *'app'" "$KMS_TMP/last.log"

# The mechanism list names the new mechanisms.
kms_run "list mechanisms" "${P11T[@]}" -M
for m in AES-KEY-GEN GENERIC-SECRET-KEY-GEN AES-ECB AES-CBC AES-CBC-PAD AES-GCM AES-CTR AES-KEY-WRAP \
	AES-CMAC SHA-1-HMAC SHA256-HMAC SHA512-HMAC SHA3-256 SHA3-512 ECDH1-DERIVE \
	EC-MONTGOMERY-KEY-PAIR-GEN RSA-PKCS-OAEP; do
	kms_check "mechanism list has $m" grep -q "^ *$m," "$KMS_TMP/last.log"
done
# pkcs11-tool 0.23 shows the mechanisms it has no name for by number.
for m in 0x210A:AES_KEY_WRAP_PAD 0x210B:AES_KEY_WRAP_KWP 0x108B:AES_CMAC_GENERAL 0x1054:RSA_AES_KEY_WRAP \
	0x252:SHA256_HMAC_GENERAL; do
	kms_check "mechanism list has CKM_${m#*:} (${m%%:*})" grep -qi "^ *mechtype-${m%%:*}," "$KMS_TMP/last.log"
done

kms_finish
