#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Java (OpenJDK 17's SunPKCS11) on kms11: keytool lists each key pair whose certificate is stored; a small program
# (java/KmsJava.java) signs with SHA256withRSA, RSASSA-PSS and SHA256withECDSA and verifies with the JDK's own
# providers, and round-trips AES-GCM with SunJCE.
. "$(dirname "$0")/common.sh"
kms_need java javac keytool openssl pkcs11-tool
kms_token_init
P=("${P11T[@]}" --login --pin "$KMS_PIN")
# Two key pairs, each with a certificate of its own (CKA_ID shared with the keys: a key store entry).
kms_run "RSA-2048 key pair" "${P[@]}" --keypairgen --key-type rsa:2048 --label java-rsa --id 0a01
kms_run "P-256 key pair" "${P[@]}" --keypairgen --key-type EC:prime256v1 --label java-ec --id 0a02
kms_engine_conf </dev/null
for k in rsa:0a01 ec:0a02; do
	name=java-${k%%:*}
	id=${k##*:}
	kms_run "certificate of $name" openssl req -new -x509 -engine pkcs11 -keyform engine \
		-key "pkcs11:token=$KMS_LABEL;object=$name;type=private" -subj "/CN=$name" -days 2 -outform DER \
		-out "$KMS_TMP/$name.der"
	kms_run "store it in the token" "${P[@]}" --write-object "$KMS_TMP/$name.der" --type cert --id "$id" --label "$name"
done
unset OPENSSL_CONF
printf 'name = kms11\nlibrary = %s\nslotListIndex = 0\n' "$KMS11_MODULE" >"$KMS_TMP/sunpkcs11.cfg"
kms_run "keytool -list of the PKCS11 key store" keytool -list -keystore NONE -storetype PKCS11 \
	-providerClass sun.security.pkcs11.SunPKCS11 -providerArg "$KMS_TMP/sunpkcs11.cfg" -storepass "$KMS_PIN"
kms_check "... shows java-rsa as a key pair with its certificate" grep -q "^java-rsa, PrivateKeyEntry" "$KMS_TMP/last.log"
kms_check "... and java-ec" grep -q "^java-ec, PrivateKeyEntry" "$KMS_TMP/last.log"
kms_run "compile the Java program" javac -d "$KMS_TMP/classes" "$(dirname "$0")/java/KmsJava.java"
kms_run "SunPKCS11 signs and verifies, and round-trips AES-GCM" java -cp "$KMS_TMP/classes" KmsJava "$KMS_TMP/sunpkcs11.cfg" \
	"$KMS_PIN" java-rsa java-ec
sed 's/^/# /' "$KMS_TMP/last.log"
kms_finish
