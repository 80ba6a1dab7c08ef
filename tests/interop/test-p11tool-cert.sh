#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Interop suite: GnuTLS stores a certificate for a module key (certtool, p11tool --write), lists and exports it by URI.
. "$(dirname "$0")/common.sh"
kms_need p11tool certtool openssl pkcs11-tool cmp

P11TOOL=(p11tool --provider "$KMS11_MODULE")
TOK="pkcs11:token=$KMS_LABEL"
export GNUTLS_PIN=$KMS_PIN
export GNUTLS_SO_PIN=$KMS_SO_PIN

kms_token_init
kms_run "p11tool --generate-privkey=ecdsa P-384" "${P11TOOL[@]}" --login --generate-privkey=ecdsa \
	--curve=secp384r1 --label web384 "$TOK"
cat >"$KMS_TMP/tpl" <<TPL
cn = web384.example
serial = 0x1234
expiration_days = 10
signing_key
tls_www_server
TPL
kms_run "certtool signs a certificate with the module key" certtool --generate-self-signed \
	--provider "$KMS11_MODULE" --load-privkey "$TOK;object=web384;type=private" --template "$KMS_TMP/tpl" \
	--outfile "$KMS_TMP/c.pem"
kms_run "openssl verifies the certificate" openssl verify -CAfile "$KMS_TMP/c.pem" "$KMS_TMP/c.pem"
kms_run "p11tool --write stores it" "${P11TOOL[@]}" --login --write --load-certificate "$KMS_TMP/c.pem" \
	--label web384 "$TOK"

kms_run "p11tool --list-all-certs" "${P11TOOL[@]}" --list-all-certs "$TOK"
kms_check "the certificate is listed with type=cert" grep -q "object=web384;type=cert" "$KMS_TMP/last.log"
kms_check "it is listed as an ECDSA-SECP384R1 certificate" grep -q "X.509 Certificate (EC/ECDSA-SECP384R1)" \
	"$KMS_TMP/last.log"
kms_run "p11tool --list-all --login" "${P11TOOL[@]}" --login --list-all "$TOK;object=web384"
ids=$(grep "ID:" "$KMS_TMP/last.log" | sort -u | wc -l)
kms_check "the certificate and its key pair share CKA_ID ($ids distinct)" [ "$ids" -eq 1 ]

kms_run "p11tool --export by URI" "${P11TOOL[@]}" --export "$TOK;object=web384;type=cert" \
	--outfile "$KMS_TMP/e.pem"
openssl x509 -in "$KMS_TMP/c.pem" -outform DER -out "$KMS_TMP/c.der"
openssl x509 -in "$KMS_TMP/e.pem" -outform DER -out "$KMS_TMP/e.der" 2>/dev/null || true
kms_check "the exported certificate is identical to the stored one" cmp -s "$KMS_TMP/c.der" "$KMS_TMP/e.der"
kms_check "openssl reads the same subject from the export" \
	[ "$(openssl x509 -in "$KMS_TMP/e.pem" -noout -subject 2>/dev/null)" = "$(openssl x509 -in "$KMS_TMP/c.pem" -noout -subject)" ]
kms_run "pkcs11-tool reads the certificate too" "${P11T[@]}" --read-object --type cert --label web384 \
	-o "$KMS_TMP/t.der"
kms_check "pkcs11-tool's copy is identical" cmp -s "$KMS_TMP/c.der" "$KMS_TMP/t.der"

kms_finish
