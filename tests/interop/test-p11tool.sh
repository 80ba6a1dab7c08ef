#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Interop suite: GnuTLS's p11tool and certtool use the module; openssl checks the certificate they make.
. "$(dirname "$0")/common.sh"
kms_need p11tool certtool openssl pkcs11-tool

P11TOOL=(p11tool --provider "$KMS11_MODULE")
TOK="pkcs11:token=$KMS_LABEL"
export GNUTLS_PIN=$KMS_PIN
export GNUTLS_SO_PIN=$KMS_SO_PIN

kms_token_init

kms_run "p11tool --list-tokens" "${P11TOOL[@]}" --list-tokens
kms_check "--list-tokens shows token=kms11" grep -q "URL: pkcs11:.*token=$KMS_LABEL" "$KMS_TMP/last.log"

for alg in ecdsa rsa; do
	extra=()
	[ "$alg" = ecdsa ] && extra=(--curve=secp256r1)
	[ "$alg" = rsa ] && extra=(--bits=2048)
	kms_run "p11tool --generate-privkey=$alg" "${P11TOOL[@]}" --login --generate-privkey="$alg" \
		"${extra[@]}" --label "gnutls-$alg" --outfile "$KMS_TMP/gen-$alg.pub" "$TOK" || true
done

kms_run "p11tool --list-all --login" "${P11TOOL[@]}" --list-all --login "$TOK"
cp "$KMS_TMP/last.log" "$KMS_TMP/all.txt"
# Besides the key pairs, every token holds its CKO_PROFILE object (PKCS#11 3.0).
n=$(grep -c "URL:" "$KMS_TMP/all.txt" || true)
kms_check "--list-all shows the 4 objects of 2 key pairs and the profile ($n)" [ "$n" -eq 5 ]
kms_check "--list-all shows object=gnutls-ecdsa" grep -q "object=gnutls-ecdsa" "$KMS_TMP/all.txt"

kms_run "p11tool --list-all without login" "${P11TOOL[@]}" --list-all "$TOK"
n=$(grep -c "URL:" "$KMS_TMP/last.log" || true)
kms_check "without login only the 2 public keys and the profile are listed ($n)" [ "$n" -eq 3 ]

URI_PRIV="$TOK;object=gnutls-ecdsa;type=private"
URI_PUB="$TOK;object=gnutls-ecdsa;type=public"
kms_run "p11tool --list-all with a pkcs11: URI" "${P11TOOL[@]}" --list-all --login "$URI_PRIV"
n=$(grep -c "URL:" "$KMS_TMP/last.log" || true)
kms_check "the URI $URI_PRIV finds exactly one object ($n)" [ "$n" -eq 1 ]
kms_check "the object found is the private key" grep -q "Type: Private key" "$KMS_TMP/last.log"

kms_run "p11tool --export-pubkey" "${P11TOOL[@]}" --export-pubkey "$URI_PUB" --outfile "$KMS_TMP/tok.pub" || true

# A self-signed certificate made with the token's key, checked by openssl.
cat >"$KMS_TMP/cert.tmpl" <<'TMPL'
cn = "kms11 interop"
organization = "kms11"
serial = 1
expiration_days = 30
ca
cert_signing_key
signing_key
tls_www_server
dns_name = "localhost"
TMPL
for alg in ecdsa rsa; do
	uri="$TOK;object=gnutls-$alg;type=private"
	cert="$KMS_TMP/cert-$alg.pem"
	kms_run "certtool --generate-self-signed with $alg key $uri" certtool --provider "$KMS11_MODULE" \
		--generate-self-signed --load-privkey "$uri" --template "$KMS_TMP/cert.tmpl" \
		--outfile "$cert" || continue
	kms_run "openssl verify accepts the $alg certificate" openssl verify -CAfile "$cert" "$cert" || true
	openssl x509 -in "$cert" -noout -pubkey | openssl pkey -pubin -outform DER >"$KMS_TMP/cert-$alg.spki"
	if kms_try "${P11TOOL[@]}" --export-pubkey "$TOK;object=gnutls-$alg;type=public" \
		--outfile "$KMS_TMP/tok-$alg.pub"; then
		openssl pkey -pubin -in "$KMS_TMP/tok-$alg.pub" -outform DER >"$KMS_TMP/tok-$alg.spki"
		kms_check "the $alg certificate's public key is the token's" \
			cmp -s "$KMS_TMP/cert-$alg.spki" "$KMS_TMP/tok-$alg.spki"
	else
		kms_fail "export the $alg public key"
	fi
done
kms_check "the ECDSA certificate is signed with ecdsa-with-SHA256" \
	sh -c "openssl x509 -in '$KMS_TMP/cert-ecdsa.pem' -noout -text | grep -q 'ecdsa-with-SHA256'"

kms_finish
