#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# OpenSSL 3 with pkcs11-provider 1.0 (Debian's, from bookworm-backports) on kms11: keys by pkcs11: URI with the
# PIN from a file; ECDSA, RSA PKCS#1 v1.5 and RSA-PSS signatures verified by plain OpenSSL; RSA-OAEP decryption of
# what plain OpenSSL encrypted; a self-signed certificate made by the provider's key; a TLS 1.3 handshake served
# by openssl s_server from the kms11 key, verified by s_client.
. "$(dirname "$0")/common.sh"
kms_need openssl
: "${KMS11_CLI:?KMS11_CLI must name the kms11 tool}"
K=("$KMS11_CLI")
prov=$(find /usr/lib /usr/lib64 -name pkcs11.so -path '*ossl-modules*' 2>/dev/null | head -n 1)
[ -n "$prov" ] || kms_die "pkcs11-provider is not installed (apt-get install -t bookworm-backports pkcs11-provider)"

"${K[@]}" token init --label prov --so-pin "$KMS_SO_PIN" --pin "$KMS_PIN" >/dev/null || kms_die "token init"
"${K[@]}" key create --algorithm ECDSA --size 256 --name pv-ec --pin "$KMS_PIN" >/dev/null || kms_die "key create EC"
"${K[@]}" key create --algorithm RSA --size 2048 --name pv-rsa --pin "$KMS_PIN" >/dev/null || kms_die "key create RSA"
printf '%s' "$KMS_PIN" >"$KMS_TMP/pin"
cat >"$KMS_TMP/provider.cnf" <<CNF
openssl_conf = openssl_init

[openssl_init]
providers = provider_sect

[provider_sect]
default = default_sect
pkcs11 = pkcs11_sect

[default_sect]
activate = 1

[pkcs11_sect]
module = $prov
pkcs11-module-path = $KMS11_MODULE
pkcs11-module-token-pin = file:$KMS_TMP/pin
activate = 1
CNF
P=(env OPENSSL_CONF="$KMS_TMP/provider.cnf" openssl)
printf 'signed through pkcs11-provider' >"$KMS_TMP/msg"

kms_run "export the EC public key through the provider" "${P[@]}" pkey -pubin -in "pkcs11:token=prov;object=pv-ec;type=public" \
	-pubout -out "$KMS_TMP/ec.pub"
kms_run "export the RSA public key" "${P[@]}" pkey -pubin -in "pkcs11:token=prov;object=pv-rsa;type=public" -pubout \
	-out "$KMS_TMP/rsa.pub"
kms_run "ECDSA-SHA256 signature by the kms11 key" "${P[@]}" dgst -sha256 -sign "pkcs11:token=prov;object=pv-ec;type=private" \
	-out "$KMS_TMP/ec.sig" "$KMS_TMP/msg"
kms_run "plain OpenSSL verifies it" openssl dgst -sha256 -verify "$KMS_TMP/ec.pub" -signature "$KMS_TMP/ec.sig" "$KMS_TMP/msg"
kms_run "RSA PKCS#1 v1.5 SHA-256 signature" "${P[@]}" dgst -sha256 -sign "pkcs11:token=prov;object=pv-rsa;type=private" \
	-out "$KMS_TMP/rsa.sig" "$KMS_TMP/msg"
kms_run "plain OpenSSL verifies it" openssl dgst -sha256 -verify "$KMS_TMP/rsa.pub" -signature "$KMS_TMP/rsa.sig" "$KMS_TMP/msg"
kms_run "RSA-PSS SHA-256 signature" "${P[@]}" dgst -sha256 -sign "pkcs11:token=prov;object=pv-rsa;type=private" \
	-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -out "$KMS_TMP/pss.sig" "$KMS_TMP/msg"
kms_run "plain OpenSSL verifies it" openssl dgst -sha256 -verify "$KMS_TMP/rsa.pub" -sigopt rsa_padding_mode:pss \
	-sigopt rsa_pss_saltlen:32 -signature "$KMS_TMP/pss.sig" "$KMS_TMP/msg"
kms_run "plain OpenSSL encrypts with RSA-OAEP-SHA-256" openssl pkeyutl -encrypt -pubin -inkey "$KMS_TMP/rsa.pub" \
	-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -in "$KMS_TMP/msg" -out "$KMS_TMP/oaep.bin"
# pkcs11-provider 1.0 does not take MGF1's hash from rsa_oaep_md as OpenSSL does: it is given (README, Clients).
kms_run "the kms11 key decrypts it through the provider" "${P[@]}" pkeyutl -decrypt \
	-inkey "pkcs11:token=prov;object=pv-rsa;type=private" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
	-pkeyopt rsa_mgf1_md:sha256 -in "$KMS_TMP/oaep.bin" -out "$KMS_TMP/oaep.out"
kms_check "... to the plaintext" cmp -s "$KMS_TMP/oaep.out" "$KMS_TMP/msg"
kms_run "a self-signed certificate by the EC key" "${P[@]}" req -new -x509 -key "pkcs11:token=prov;object=pv-ec;type=private" \
	-subj /CN=localhost -days 2 -out "$KMS_TMP/ec.crt"
kms_run "plain OpenSSL verifies the certificate's signature" openssl verify -CAfile "$KMS_TMP/ec.crt" "$KMS_TMP/ec.crt"

# TLS 1.3: s_server on the kms11 key, s_client verifying against the certificate.
port=$(kms_free_port)
"${P[@]}" s_server -accept "127.0.0.1:$port" -tls1_3 -cert "$KMS_TMP/ec.crt" \
	-key "pkcs11:token=prov;object=pv-ec;type=private" -rev -quiet >"$KMS_TMP/server.log" 2>&1 &
KMS_PIDS+=($!)
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
# (A line starting with k would be s_client's key update command.)
(printf 'hello provider\n'; sleep 1) | timeout 20 openssl s_client -connect "127.0.0.1:$port" -tls1_3 -CAfile "$KMS_TMP/ec.crt" \
	-verify_return_error -servername localhost -quiet -no_ign_eof >"$KMS_TMP/client.log" 2>&1 || true
kms_check "a TLS 1.3 handshake with the kms11 key, verified, echoes the data reversed" grep -q "redivorp olleh" "$KMS_TMP/client.log"
kms_finish
