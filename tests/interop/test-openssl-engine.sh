#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Interop suite: OpenSSL with libp11's pkcs11 engine signs, makes certificates and serves TLS with module keys.
. "$(dirname "$0")/common.sh"
kms_need openssl pkcs11-tool timeout rev

kms_engine_conf <<CNF

[req]
distinguished_name = req_dn
prompt = no
[req_dn]
CN = localhost
CNF
ENG=(-engine pkcs11)

kms_token_init
kms_run "generate RSA-2048 key" "${P11T[@]}" --login --pin "$KMS_PIN" --keypairgen --key-type rsa:2048 \
	--label tls-rsa --id 11 --usage-sign
kms_run "generate EC P-256 key" "${P11T[@]}" --login --pin "$KMS_PIN" --keypairgen --key-type EC:prime256v1 \
	--label tls-ec --id 12 --usage-sign

head -c 4096 /dev/urandom >"$KMS_TMP/data"
for k in rsa ec; do
	uri="pkcs11:token=$KMS_LABEL;object=tls-$k;type=private"
	kms_run "openssl req -x509 with the $k key $uri" openssl req -new -x509 "${ENG[@]}" -keyform engine \
		-key "$uri" -sha256 -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
		-out "$KMS_TMP/$k.crt" || continue
	kms_run "openssl verify accepts the $k certificate" openssl verify -CAfile "$KMS_TMP/$k.crt" "$KMS_TMP/$k.crt" || true
	openssl x509 -in "$KMS_TMP/$k.crt" -noout -pubkey >"$KMS_TMP/$k.certpub"
	if kms_try "${P11T[@]}" --read-object --type pubkey --label "tls-$k" -o "$KMS_TMP/$k.der"; then
		openssl pkey -pubin -inform DER -in "$KMS_TMP/$k.der" -out "$KMS_TMP/$k.pub"
		kms_check "the $k certificate holds the token's public key" cmp -s "$KMS_TMP/$k.pub" "$KMS_TMP/$k.certpub"
	else
		kms_fail "read the $k public key"
	fi
	if kms_run "openssl dgst -sha256 -sign with the $k key" openssl dgst -sha256 "${ENG[@]}" -keyform engine \
		-sign "$uri" -out "$KMS_TMP/$k.sig" "$KMS_TMP/data"; then
		kms_run "the $k signature verifies with the public key" openssl dgst -sha256 \
			-verify "$KMS_TMP/$k.certpub" -signature "$KMS_TMP/$k.sig" "$KMS_TMP/data" || true
	fi
done

# TLS: s_server with the module key, s_client sends a line, s_server -rev sends it back reversed.
tls_check() {
	local k=$1 ver=$2
	local uri="pkcs11:token=$KMS_LABEL;object=tls-$k;type=private"
	local port log msg rev pid i
	if [ ! -s "$KMS_TMP/$k.crt" ]; then
		kms_fail "TLS $ver with $k key: no certificate"
		return
	fi
	port=$(kms_free_port)
	log="$KMS_TMP/server-$k-$ver.log"
	openssl s_server "${ENG[@]}" -keyform engine -key "$uri" -cert "$KMS_TMP/$k.crt" \
		-accept "127.0.0.1:$port" "-$ver" -rev -naccept 1 </dev/null >"$log" 2>&1 &
	pid=$!
	KMS_PIDS+=("$pid")
	for i in $(seq 1 100); do
		grep -q "^ACCEPT" "$log" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q "^ACCEPT" "$log"; then
		kms_fail "s_server $ver with the $k key starts"
		sed 's/^/    | /' "$log" | tail -n 20
		return
	fi
	kms_ok "s_server $ver with the $k key starts"
	msg="data-$k-$ver-$RANDOM" # a first letter Q, R, k or K is an s_client command
	rev=$(printf '%s' "$msg" | rev)
	{ printf '%s\n' "$msg"; sleep 1.5; } | timeout 20 openssl s_client -connect "127.0.0.1:$port" \
		-servername localhost -CAfile "$KMS_TMP/$k.crt" -verify_return_error "-$ver" \
		>"$KMS_TMP/client-$k-$ver.log" 2>&1 || true
	if grep -q -- "$rev" "$KMS_TMP/client-$k-$ver.log"; then
		kms_ok "TLS $ver handshake with the $k key, data round trip"
	else
		kms_fail "TLS $ver handshake with the $k key, data round trip"
		sed 's/^/    client| /' "$KMS_TMP/client-$k-$ver.log" | tail -n 20
		sed 's/^/    server| /' "$log" | tail -n 20
	fi
	kms_check "TLS $ver negotiated as $ver" grep -Eq "Protocol *: *TLSv1\\.${ver#tls1_}|New, TLSv1\\.${ver#tls1_}" \
		"$KMS_TMP/client-$k-$ver.log"
	kms_check "client verified the certificate (return code 0)" grep -q "Verify return code: 0 (ok)" \
		"$KMS_TMP/client-$k-$ver.log"
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
for k in rsa ec; do
	tls_check "$k" tls1_3
	tls_check "$k" tls1_2
done

kms_finish
