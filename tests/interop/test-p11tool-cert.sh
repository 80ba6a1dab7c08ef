#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Interop suite: GnuTLS stores a certificate for a module key (certtool, p11tool --write), lists, exports and
# deletes it by URI, and gnutls-serv serves TLS with both the key and the certificate loaded from kms11 by URI.
. "$(dirname "$0")/common.sh"
kms_need p11tool certtool gnutls-serv openssl pkcs11-tool cmp timeout python3

P11TOOL=(p11tool --provider "$KMS11_MODULE")
TOK="pkcs11:token=$KMS_LABEL"
export GNUTLS_PIN=$KMS_PIN
export GNUTLS_SO_PIN=$KMS_SO_PIN

kms_token_init
kms_run "p11tool --generate-privkey=ecdsa P-384" "${P11TOOL[@]}" --login --generate-privkey=ecdsa \
	--curve=secp384r1 --label web384 "$TOK"
cat >"$KMS_TMP/tpl" <<TPL
cn = web384.example
dns_name = web384.example
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
kms_check "exactly one certificate is listed" [ "$(grep -c "^Object" "$KMS_TMP/last.log")" -eq 1 ]
kms_run "p11tool --list-all --login" "${P11TOOL[@]}" --login --list-all "$TOK;object=web384"
kms_check "the certificate and both keys are listed" [ "$(grep -c "^Object" "$KMS_TMP/last.log")" -eq 3 ]
ids=$(grep "ID:" "$KMS_TMP/last.log" | sort -u | wc -l)
kms_check "the certificate and its key pair share CKA_ID ($ids distinct)" [ "$ids" -eq 1 ]

kms_run "p11tool --export by URI" "${P11TOOL[@]}" --export "$TOK;object=web384;type=cert" \
	--outfile "$KMS_TMP/e.pem"
# p11tool --export ends the PEM with two empty lines; the PEM text is otherwise the original's.
kms_check "the exported PEM is the original PEM" \
	cmp -s <(grep -v '^$' "$KMS_TMP/c.pem") <(grep -v '^$' "$KMS_TMP/e.pem")
openssl x509 -in "$KMS_TMP/c.pem" -outform DER -out "$KMS_TMP/c.der"
openssl x509 -in "$KMS_TMP/e.pem" -outform DER -out "$KMS_TMP/e.der" 2>/dev/null || true
kms_check "the exported certificate is identical to the stored one (DER)" cmp -s "$KMS_TMP/c.der" "$KMS_TMP/e.der"
subject=$(openssl x509 -in "$KMS_TMP/c.pem" -noout -subject)
kms_check "openssl reads the same subject from the export ($subject)" \
	[ "$(openssl x509 -in "$KMS_TMP/e.pem" -noout -subject 2>/dev/null)" = "$subject" ]
kms_run "pkcs11-tool reads the certificate too" "${P11T[@]}" --read-object --type cert --label web384 \
	-o "$KMS_TMP/t.der"
kms_check "pkcs11-tool's copy is identical" cmp -s "$KMS_TMP/c.der" "$KMS_TMP/t.der"

# gnutls-serv takes both the key and the certificate by URI; openssl s_client checks the chain and the echo.
port=$(kms_free_port)
log="$KMS_TMP/serv.log"
gnutls-serv --provider "$KMS11_MODULE" --x509certfile "$TOK;object=web384;type=cert" \
	--x509keyfile "$TOK;object=web384;type=private" --echo -p "$port" </dev/null >"$log" 2>&1 &
pid=$!
KMS_PIDS+=("$pid")
for _ in $(seq 1 100); do
	grep -q "listening on IPv4" "$log" 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kms_check "gnutls-serv starts with the key and certificate by URI" grep -q "listening on IPv4" "$log"
msg="gnutls-echo-$RANDOM"
{ printf '%s\n' "$msg"; sleep 1.5; } | timeout 20 openssl s_client -connect "127.0.0.1:$port" -tls1_3 \
	-CAfile "$KMS_TMP/c.pem" -verify_return_error -verify_hostname web384.example -showcerts \
	>"$KMS_TMP/client.log" 2>&1 || true
kms_check "TLS 1.3 handshake and echo through gnutls-serv" grep -q "^$msg\$" "$KMS_TMP/client.log"
kms_check "s_client verified the certificate and host name" grep -q "Verify return code: 0 (ok)" "$KMS_TMP/client.log"
kms_check "the handshake signature is ECDSA with SHA-384" grep -q "Peer signing digest: SHA384" "$KMS_TMP/client.log"
awk '/BEGIN CERTIFICATE/ { f = 1 } f { print } /END CERTIFICATE/ { exit }' "$KMS_TMP/client.log" |
	openssl x509 -outform DER -out "$KMS_TMP/served.der" 2>/dev/null || true
kms_check "the served certificate is the stored one" cmp -s "$KMS_TMP/c.der" "$KMS_TMP/served.der"
kill "$pid" 2>/dev/null || true

kms_run "p11tool --delete the certificate" "${P11TOOL[@]}" --login --batch --delete "$TOK;object=web384;type=cert"
kms_check "p11tool reports one object deleted" grep -q "^1 objects deleted" "$KMS_TMP/last.log"
# p11tool --list-all-certs exits non-zero when it finds nothing.
kms_try "${P11TOOL[@]}" --list-all-certs "$TOK" || true
kms_check "no certificate is left" grep -q "No matching objects found" "$KMS_TMP/last.log"
kms_run "the key pair is still there" "${P11TOOL[@]}" --login --list-all "$TOK;object=web384"
kms_check "both keys remain" [ "$(grep -c "^Object" "$KMS_TMP/last.log")" -eq 2 ]

kms_finish
