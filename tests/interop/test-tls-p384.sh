#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Interop suite: a TLS server whose P-384 key and certificate both live in kms11 and are loaded by pkcs11: URI
# through OpenSSL with libp11's engine: the key with -keyform engine, the certificate with the engine's
# LOAD_CERT_CTRL (load-cert.py), written to a file for s_server. OpenSSL 3.0's s_server opens -cert through
# OSSL_STORE, which has no pkcs11: scheme with libp11's engine ("unregistered scheme"), and Debian 12 has no
# pkcs11-provider; so the certificate the server sends is the one the engine loaded from the token, and the
# client checks it is byte for byte the stored one. (test-p11tool-cert.sh serves both by URI with gnutls-serv.)
. "$(dirname "$0")/common.sh"
kms_need openssl pkcs11-tool timeout rev python3 cmp

kms_engine_conf </dev/null
KEY="pkcs11:token=$KMS_LABEL;object=tls384;type=private"
CERT="pkcs11:token=$KMS_LABEL;object=tls384;type=cert"

kms_token_init
kms_run "generate a P-384 key pair in the module" "${P11T[@]}" --login --pin "$KMS_PIN" --keypairgen \
	--key-type EC:secp384r1 --label tls384 --id 38 --usage-sign
kms_run "openssl req -x509 signs the certificate with the module key" openssl req -new -x509 -engine pkcs11 \
	-keyform engine -key "$KEY" -sha384 -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
	-out "$KMS_TMP/orig.pem"
openssl x509 -in "$KMS_TMP/orig.pem" -outform DER -out "$KMS_TMP/orig.der"
kms_run "store the certificate in kms11 with the key's id" "${P11T[@]}" --login --pin "$KMS_PIN" \
	--write-object "$KMS_TMP/orig.der" --type cert --id 38 --label tls384
kms_run "libp11 loads the certificate by URI" python3 "$(dirname "$0")/load-cert.py" "$CERT" "$KMS_TMP/loaded.pem"
openssl x509 -in "$KMS_TMP/loaded.pem" -outform DER -out "$KMS_TMP/loaded.der" 2>/dev/null || true
kms_check "the loaded certificate is the stored one" cmp -s "$KMS_TMP/orig.der" "$KMS_TMP/loaded.der"

port=$(kms_free_port)
log="$KMS_TMP/server.log"
openssl s_server -engine pkcs11 -keyform engine -key "$KEY" -cert "$KMS_TMP/loaded.pem" \
	-accept "127.0.0.1:$port" -tls1_3 -rev -naccept 1 </dev/null >"$log" 2>&1 &
pid=$!
KMS_PIDS+=("$pid")
for _ in $(seq 1 100); do
	grep -q "^ACCEPT" "$log" 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kms_check "s_server starts with the module's P-384 key" grep -q "^ACCEPT" "$log"
msg="p384-$RANDOM-data"
{ printf '%s\n' "$msg"; sleep 1.5; } | timeout 20 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
	-CAfile "$KMS_TMP/orig.pem" -verify_return_error -verify_hostname localhost -tls1_3 -showcerts \
	>"$KMS_TMP/client.log" 2>&1 || true
kms_check "TLS 1.3 handshake and data round trip" grep -q -- "$(printf '%s' "$msg" | rev)" "$KMS_TMP/client.log"
kms_check "the client verified the certificate" grep -q "Verify return code: 0 (ok)" "$KMS_TMP/client.log"
kms_check "the server key is a 384-bit key" grep -q "Server public key is 384 bit" \
	"$KMS_TMP/client.log"
kms_check "the handshake signature is ECDSA with SHA-384" grep -q "Peer signing digest: SHA384" "$KMS_TMP/client.log"
kms_check "the protocol is TLS 1.3" grep -q "Protocol *: TLSv1.3" "$KMS_TMP/client.log"
awk '/BEGIN CERTIFICATE/ { f = 1 } f { print } /END CERTIFICATE/ { exit }' "$KMS_TMP/client.log" |
	openssl x509 -outform DER -out "$KMS_TMP/served.der" 2>/dev/null || true
kms_check "the served certificate is the one stored in kms11" cmp -s "$KMS_TMP/orig.der" "$KMS_TMP/served.der"
kill "$pid" 2>/dev/null || true

kms_finish
