#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Crypto by name through the kms11 CLI: every signing algorithm on raw messages and digests, checked by openssl
# with the public key kms11 prints; verify's answers; encrypt/decrypt with AES-GCM (AAD bound) and RSA-OAEP
# (against openssl); HMAC and data keys; refusals with their exit codes.
. "$(dirname "$0")/common.sh"
kms_need openssl python3
: "${KMS11_CLI:?KMS11_CLI must name the kms11 tool}"
K=("$KMS11_CLI")
PY=/usr/bin/python3
unset KMS11_SO_PIN
[ "${KMS11_TEST_ENGINE:-openssl}" = pkcs11 ] || unset KMS11_CONF
export KMS11_PIN="$KMS_PIN"
"${K[@]}" token init --label "$KMS_LABEL" --so-pin "$KMS_SO_PIN" --pin "$KMS_PIN" >/dev/null || kms_die "token init"


printf 'the message to sign' >"$KMS_TMP/msg"
msg=$(base64 -w0 <"$KMS_TMP/msg")
for spec in rsa:RSA:2048 ec256:ECDSA:256 ec384:ECDSA:384 ed:Ed25519:256; do
	IFS=: read -r name alg size <<<"$spec"
	"${K[@]}" key create --algorithm "$alg" --size "$size" --name "$name" >/dev/null || kms_die "create $name"
	"${K[@]}" key public-key "$name" >"$KMS_TMP/pk.json" || kms_die "public-key $name"
	kms_json "$KMS_TMP/pk.json" 'd["public_key"]' | base64 -d >"$KMS_TMP/$name.pem"
done
kms_check "public-key prints version 1" [ "$(kms_json "$KMS_TMP/pk.json" 'd["version"]')" = 1 ]

for spec in rsa:RSASSA_PKCS1_V1_5_SHA_256:sha256 rsa:RSASSA_PKCS1_V1_5_SHA_384:sha384 \
	rsa:RSASSA_PKCS1_V1_5_SHA_512:sha512 rsa:RSASSA_PSS_SHA_256:sha256 rsa:RSASSA_PSS_SHA_384:sha384 \
	rsa:RSASSA_PSS_SHA_512:sha512 ec256:ECDSA_SHA_256:sha256 ec384:ECDSA_SHA_384:sha384 ec384:ECDSA_SHA_512:sha512; do
	IFS=: read -r name alg md <<<"$spec"
	opts=()
	case $alg in RSASSA_PSS*) opts=(-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest) ;; esac
	for type in raw hash; do
		if [ "$type" = hash ]; then m=$(openssl dgst "-$md" -binary <"$KMS_TMP/msg" | base64 -w0); else m=$msg; fi
		kms_expect 0 "$alg sign ($type)" "${K[@]}" key sign "$name" --algorithm "$alg" --message "$m" --message-type "$type"
		kms_json "$KMS_TMP/out.json" 'd["signature"]' | base64 -d >"$KMS_TMP/sig"
		kms_check "openssl verifies the $alg signature of the $type message" openssl dgst "-$md" \
			-verify "$KMS_TMP/$name.pem" "${opts[@]}" -signature "$KMS_TMP/sig" "$KMS_TMP/msg"
		kms_expect 0 "$alg verify ($type)" "${K[@]}" key verify "$name" --algorithm "$alg" --message "$m" \
			--message-type "$type" --signature "$(base64 -w0 <"$KMS_TMP/sig")"
		kms_check "... valid" [ "$(kms_json "$KMS_TMP/out.json" 'd["valid"]')" = True ]
	done
done
kms_expect 0 "ED25519 sign" "${K[@]}" key sign ed --algorithm ED25519 --message "$msg"
kms_json "$KMS_TMP/out.json" 'd["signature"]' | base64 -d >"$KMS_TMP/edsig"
kms_check "openssl verifies the Ed25519 signature" openssl pkeyutl -verify -pubin -inkey "$KMS_TMP/ed.pem" -rawin \
	-in "$KMS_TMP/msg" -sigfile "$KMS_TMP/edsig"
# openssl's signature verified by kms11.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$KMS_TMP/other.pem" 2>/dev/null
kms_expect 0 "verify of a tampered message" "${K[@]}" key verify ed --algorithm ED25519 --message "$(printf x | base64)" \
	--signature "$(base64 -w0 <"$KMS_TMP/edsig")"
kms_check "is not valid, and not an error" [ "$(kms_json "$KMS_TMP/out.json" 'd["valid"]')" = False ]
kms_expect 0 "verify of garbage as an ECDSA signature" "${K[@]}" key verify ec256 --algorithm ECDSA_SHA_256 \
	--message "$msg" --signature "$(printf 'not der' | base64)"
kms_check "is not valid" [ "$(kms_json "$KMS_TMP/out.json" 'd["valid"]')" = False ]
kms_expect 2 "a digest of the wrong length" "${K[@]}" key sign ec256 --algorithm ECDSA_SHA_256 --message "$msg" \
	--message-type hash
kms_expect 2 "ED25519 of a digest" "${K[@]}" key sign ed --algorithm ED25519 --message "$msg" --message-type hash
kms_expect 2 "an RSA algorithm on an EC key" "${K[@]}" key sign ec256 --algorithm RSASSA_PSS_SHA_256 --message "$msg"
kms_expect 2 "an unknown algorithm" "${K[@]}" key sign ec256 --algorithm ECDSA_SHA_1 --message "$msg"
kms_expect 2 "a message that is not base64" "${K[@]}" key sign ec256 --algorithm ECDSA_SHA_256 --message '%%%'

# AES-GCM, its AAD bound to the ciphertext; RSA-OAEP-SHA-256 against openssl.
"${K[@]}" key create --algorithm AES --name aes >/dev/null || kms_die "create aes"
aad=$(printf 'context' | base64)
kms_expect 0 "AES encrypt with AAD" "${K[@]}" key encrypt aes --plaintext "$msg" --aad "$aad"
ct=$(kms_json "$KMS_TMP/out.json" 'd["ciphertext"]')
kms_check "the ciphertext names the key version" [ "${ct#kms11:v1:}" != "$ct" ]
kms_expect 0 "AES decrypt" "${K[@]}" key decrypt aes --ciphertext "$ct" --aad "$aad"
kms_check "gives the plaintext back" [ "$(kms_json "$KMS_TMP/out.json" 'd["plaintext"]')" = "$msg" ]
kms_expect 2 "AES decrypt with other AAD" "${K[@]}" key decrypt aes --ciphertext "$ct" --aad "$(printf other | base64)"
kms_expect 2 "AES decrypt of a damaged ciphertext" "${K[@]}" key decrypt aes --ciphertext "${ct%?}A"
kms_expect 3 "a ciphertext of a version the key does not have" "${K[@]}" key decrypt aes --ciphertext "kms11:v7:${ct#kms11:v1:}"
kms_expect 2 "not a kms11 ciphertext" "${K[@]}" key decrypt aes --ciphertext "abc"
openssl pkeyutl -encrypt -pubin -inkey "$KMS_TMP/rsa.pem" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
	-pkeyopt rsa_mgf1_md:sha256 -in "$KMS_TMP/msg" -out "$KMS_TMP/oaep"
kms_expect 0 "RSA decrypt of openssl's OAEP-SHA-256 ciphertext" "${K[@]}" key decrypt rsa \
	--ciphertext "kms11:v1:$(base64 -w0 <"$KMS_TMP/oaep")"
kms_check "gives openssl's plaintext" [ "$(kms_json "$KMS_TMP/out.json" 'd["plaintext"]')" = "$msg" ]
kms_expect 0 "RSA encrypt, decrypt" "${K[@]}" key encrypt rsa --plaintext "$msg"
kms_expect 0 "... back" "${K[@]}" key decrypt rsa --ciphertext "$(kms_json "$KMS_TMP/out.json" 'd["ciphertext"]')"
kms_check "the same plaintext" [ "$(kms_json "$KMS_TMP/out.json" 'd["plaintext"]')" = "$msg" ]
kms_expect 2 "encrypt with an EC key" "${K[@]}" key encrypt ec256 --plaintext "$msg"

# HMAC and data keys.
"${K[@]}" key create --algorithm HMAC --size 384 --name mac >/dev/null || kms_die "create mac"
kms_expect 0 "hmac" "${K[@]}" key hmac mac --message "$msg"
mac=$(kms_json "$KMS_TMP/out.json" 'd["mac"]')
kms_check "an HMAC-SHA-384 is 48 bytes" [ "$(printf %s "$mac" | base64 -d | wc -c)" = 48 ]
kms_expect 0 "verify-hmac" "${K[@]}" key verify-hmac mac --message "$msg" --mac "$mac"
kms_check "valid" [ "$(kms_json "$KMS_TMP/out.json" 'd["valid"]')" = True ]
kms_expect 0 "verify-hmac of another message" "${K[@]}" key verify-hmac mac --message "$(printf y | base64)" --mac "$mac"
kms_check "not valid" [ "$(kms_json "$KMS_TMP/out.json" 'd["valid"]')" = False ]
kms_expect 2 "hmac with an AES key" "${K[@]}" key hmac aes --message "$msg"
kms_expect 0 "data-key" "${K[@]}" key data-key aes
dk=$(kms_json "$KMS_TMP/out.json" 'd["plaintext"]')
kms_check "a 32-byte data key" [ "$(printf %s "$dk" | base64 -d | wc -c)" = 32 ]
kms_expect 0 "its ciphertext decrypts to it" "${K[@]}" key decrypt aes --ciphertext "$(kms_json "$KMS_TMP/out.json" 'd["ciphertext"]')"
kms_check "the same data key" [ "$(kms_json "$KMS_TMP/out.json" 'd["plaintext"]')" = "$dk" ]
kms_expect 2 "data-key --bits 100" "${K[@]}" key data-key aes --bits 100

# A disabled key refuses, the CLI says so with exit 5.
"${K[@]}" key disable ec256 >/dev/null || kms_die "disable"
kms_expect 5 "sign with a disabled key" "${K[@]}" key sign ec256 --algorithm ECDSA_SHA_256 --message "$msg"
kms_expect 5 "verify with a disabled key" "${K[@]}" key verify ec256 --algorithm ECDSA_SHA_256 --message "$msg" \
	--signature "$(printf x | base64)"
kms_expect 5 "a wrong PIN" env KMS11_PIN=9999 "${K[@]}" key sign rsa --algorithm RSASSA_PSS_SHA_256 --message "$msg"
kms_finish
