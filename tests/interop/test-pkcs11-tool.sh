#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Interop suite: OpenSC's pkcs11-tool drives the module; openssl checks every signature it makes.
. "$(dirname "$0")/common.sh"
kms_need pkcs11-tool openssl xxd

kms_run "pkcs11-tool --show-info" "${P11[@]}" --show-info
kms_check "show-info names the module" grep -qi "cryptoki" "$KMS_TMP/last.log"

kms_token_init
kms_ok "token initialised (init-token, init-pin)"

kms_run "pkcs11-tool -L" "${P11[@]}" -L
kms_check "-L shows the token label kms11" grep -Eq "token label *: *$KMS_LABEL\$" "$KMS_TMP/last.log"
kms_check "-L shows the token initialised with a PIN" grep -q "PIN initialized" "$KMS_TMP/last.log"

kms_run "pkcs11-tool -M" "${P11T[@]}" -M
cp "$KMS_TMP/last.log" "$KMS_TMP/mechs.txt"
for m in RSA-PKCS-KEY-PAIR-GEN RSA-PKCS SHA1-RSA-PKCS SHA224-RSA-PKCS SHA256-RSA-PKCS SHA384-RSA-PKCS \
	SHA512-RSA-PKCS RSA-PKCS-PSS SHA1-RSA-PKCS-PSS SHA224-RSA-PKCS-PSS SHA256-RSA-PKCS-PSS \
	SHA384-RSA-PKCS-PSS SHA512-RSA-PKCS-PSS RSA-PKCS-OAEP ECDSA-KEY-PAIR-GEN ECDSA ECDSA-SHA1 \
	ECDSA-SHA224 ECDSA-SHA256 ECDSA-SHA384 ECDSA-SHA512 EC-EDWARDS-KEY-PAIR-GEN EDDSA; do
	kms_check "mechanism list has $m" grep -Eq "^ *$m([ ,]|\$)" "$KMS_TMP/mechs.txt"
done

# Key generation: key type, label, id.
keygen() {
	local type=$1 label=$2 id=$3
	kms_run "keypairgen $type label=$label id=$id" "${P11T[@]}" --login --pin "$KMS_PIN" \
		--keypairgen --key-type "$type" --label "$label" --id "$id" --usage-sign
}
keygen rsa:2048 rsa2048 01
keygen EC:prime256v1 p256 02
keygen EC:secp384r1 p384 03
keygen EC:secp521r1 p521 04
keygen EC:edwards25519 ed25519 05
kms_run "keypairgen rsa:2048 for decryption" "${P11T[@]}" --login --pin "$KMS_PIN" \
	--keypairgen --key-type rsa:2048 --label rsadec --id 06 --usage-decrypt

kms_run "pkcs11-tool -O (logged in)" "${P11T[@]}" --login --pin "$KMS_PIN" -O
cp "$KMS_TMP/last.log" "$KMS_TMP/objects.txt"
for l in rsa2048 p256 p384 p521 ed25519 rsadec; do
	n=$(grep -Ec "label: *$l\$" "$KMS_TMP/objects.txt" || true)
	kms_check "-O lists the private and public key '$l' ($n objects)" [ "$n" -eq 2 ]
done
kms_check "-O shows the ids" grep -Eq "ID: *05" "$KMS_TMP/objects.txt"
kms_run "pkcs11-tool -O without login shows the public keys" "${P11T[@]}" -O --type pubkey
kms_check "public keys listed without login" grep -q "label: *p521" "$KMS_TMP/last.log"

# Public keys read back as DER SubjectPublicKeyInfo, checked by openssl.
# pkcs11-tool 0.23 writes Ed25519 keys as PEM even with -o, so openssl detects the format.
for l in rsa2048 p256 p521 ed25519 rsadec; do
	if kms_run "read public key $l" "${P11T[@]}" --read-object --type pubkey --label "$l" \
		-o "$KMS_TMP/$l.der"; then
		kms_run "openssl parses public key $l" openssl pkey -pubin -in "$KMS_TMP/$l.der" \
			-out "$KMS_TMP/$l.pem" || true
	fi
done
# pkcs11-tool 0.23 cannot export P-384 public keys ("cannot create EVP_PKEY", with SoftHSMv2 too):
# build the SubjectPublicKeyInfo from the CKA_EC_POINT that -O prints (a DER OCTET STRING).
point=$(awk '/Object;/ { p = "" } $1 == "EC_POINT:" { p = $2 } $1 == "label:" && $2 == "p384" && p != "" { print p; exit }' \
	"$KMS_TMP/objects.txt")
kms_check "-O shows the P-384 CKA_EC_POINT (DER OCTET STRING of 97 bytes)" [ "${point:0:4}" = 0461 ]
printf '3076301006072a8648ce3d020106052b81040022036200%s' "${point:4}" | xxd -r -p >"$KMS_TMP/p384.der"
kms_run "openssl parses public key p384" openssl pkey -pubin -inform DER -in "$KMS_TMP/p384.der" \
	-out "$KMS_TMP/p384.pem" || true

head -c 1000 /dev/urandom >"$KMS_TMP/data"
for h in sha1 sha224 sha256 sha384 sha512; do
	openssl dgst -"$h" -binary "$KMS_TMP/data" >"$KMS_TMP/data.$h"
done
# DigestInfo of SHA-256 for the raw CKM_RSA_PKCS mechanism.
{ printf '3031300d060960864801650304020105000420' | xxd -r -p; cat "$KMS_TMP/data.sha256"; } \
	>"$KMS_TMP/data.di256"

# pkcs11-tool 0.23 picks the key for --sign, --verify and --decrypt by --id only (it ignores --label).
declare -A ID=([rsa2048]=01 [p256]=02 [p384]=03 [p521]=04 [ed25519]=05 [rsadec]=06)

# sign LABEL MECH INPUT SIGFILE [extra pkcs11-tool args]: signs and, when it works, checks
# with pkcs11-tool --verify too.
sign() {
	local label=$1 mech=$2 in=$3 sig=$4
	shift 4
	kms_run "sign $label $mech $*" "${P11T[@]}" --login --pin "$KMS_PIN" --sign -m "$mech" \
		--id "${ID[$label]}" -i "$in" -o "$sig" "$@" || return 1
	# pkcs11-tool --verify exits 0 for a bad signature too: its message is the verdict.
	if kms_try "${P11T[@]}" --verify -m "$mech" --id "${ID[$label]}" -i "$in" --signature-file "$sig" "$@" &&
		grep -q "Signature is valid" "$KMS_TMP/last.log"; then
		kms_ok "pkcs11-tool --verify $label $mech"
	else
		kms_fail "pkcs11-tool --verify $label $mech"
		sed 's/^/    | /' "$KMS_TMP/last.log" | tail -n 5
	fi
	return 0
}

# RSA PKCS#1 v1.5
if sign rsa2048 RSA-PKCS "$KMS_TMP/data.di256" "$KMS_TMP/sig"; then
	kms_run "openssl verifies RSA-PKCS (DigestInfo SHA-256)" openssl dgst -sha256 -verify \
		"$KMS_TMP/rsa2048.pem" -signature "$KMS_TMP/sig" "$KMS_TMP/data" || true
fi
for h in SHA1 SHA224 SHA256 SHA384 SHA512; do
	lh=${h,,}
	if sign rsa2048 "$h-RSA-PKCS" "$KMS_TMP/data" "$KMS_TMP/sig"; then
		kms_run "openssl verifies $h-RSA-PKCS" openssl dgst -"$lh" -verify "$KMS_TMP/rsa2048.pem" \
			-signature "$KMS_TMP/sig" "$KMS_TMP/data" || true
		if [ "$h" = SHA256 ]; then cp "$KMS_TMP/sig" "$KMS_TMP/sig.rsa256"; fi
	fi
done

# RSA PSS: raw (a hash in) and hash-and-sign, salt length = digest length.
declare -A HLEN=([sha1]=20 [sha224]=28 [sha256]=32 [sha384]=48 [sha512]=64)
for h in SHA1 SHA224 SHA256 SHA384 SHA512; do
	lh=${h,,}
	p11h=$h
	[ "$h" = SHA1 ] && p11h=SHA-1
	pss=(--hash-algorithm "$p11h" --mgf "MGF1-$h" --salt-len "${HLEN[$lh]}")
	# Raw PSS takes the hash parameters; for SHAx-RSA-PKCS-PSS pkcs11-tool derives them from the
	# mechanism (hash, MGF1 with the same hash, salt = digest length) and refuses --hash-algorithm.
	if sign rsa2048 RSA-PKCS-PSS "$KMS_TMP/data.$lh" "$KMS_TMP/sig" "${pss[@]}"; then
		kms_run "openssl verifies RSA-PKCS-PSS ($h)" openssl pkeyutl -verify -pubin \
			-inkey "$KMS_TMP/rsa2048.pem" -in "$KMS_TMP/data.$lh" -sigfile "$KMS_TMP/sig" \
			-pkeyopt "digest:$lh" -pkeyopt rsa_padding_mode:pss \
			-pkeyopt "rsa_pss_saltlen:${HLEN[$lh]}" -pkeyopt "rsa_mgf1_md:$lh" || true
	fi
	if sign rsa2048 "$h-RSA-PKCS-PSS" "$KMS_TMP/data" "$KMS_TMP/sig"; then
		kms_run "openssl verifies $h-RSA-PKCS-PSS" openssl dgst -"$lh" -verify \
			"$KMS_TMP/rsa2048.pem" -signature "$KMS_TMP/sig" -sigopt rsa_padding_mode:pss \
			-sigopt "rsa_pss_saltlen:${HLEN[$lh]}" -sigopt "rsa_mgf1_md:$lh" "$KMS_TMP/data" || true
	fi
done

# ECDSA on each curve: raw (a hash in) and hash-and-sign; DER signatures for openssl.
for l in p256 p384 p521; do
	if sign "$l" ECDSA "$KMS_TMP/data.sha256" "$KMS_TMP/sig" --signature-format openssl; then
		kms_run "openssl verifies ECDSA $l" openssl pkeyutl -verify -pubin -inkey "$KMS_TMP/$l.pem" \
			-in "$KMS_TMP/data.sha256" -sigfile "$KMS_TMP/sig" || true
	fi
	for h in SHA1 SHA224 SHA256 SHA384 SHA512; do
		lh=${h,,}
		if sign "$l" "ECDSA-$h" "$KMS_TMP/data" "$KMS_TMP/sig" --signature-format openssl; then
			kms_run "openssl verifies ECDSA-$h $l" openssl dgst -"$lh" -verify "$KMS_TMP/$l.pem" \
				-signature "$KMS_TMP/sig" "$KMS_TMP/data" || true
		fi
	done
done
# Raw r||s is the module's format: twice the field size.
if kms_run "sign ECDSA p256 raw r||s" "${P11T[@]}" --login --pin "$KMS_PIN" --sign -m ECDSA \
	--id 02 -i "$KMS_TMP/data.sha256" -o "$KMS_TMP/sig.rs"; then
	kms_check "ECDSA P-256 raw signature is 64 bytes" [ "$(stat -c %s "$KMS_TMP/sig.rs")" -eq 64 ]
fi

# Ed25519
if sign ed25519 EDDSA "$KMS_TMP/data" "$KMS_TMP/sig"; then
	kms_check "Ed25519 signature is 64 bytes" [ "$(stat -c %s "$KMS_TMP/sig")" -eq 64 ]
	kms_run "openssl verifies EDDSA" openssl pkeyutl -verify -pubin -inkey "$KMS_TMP/ed25519.pem" \
		-rawin -in "$KMS_TMP/data" -sigfile "$KMS_TMP/sig" || true
fi

# A signature over other data must not verify.
head -c 1000 /dev/urandom >"$KMS_TMP/other"
if [ ! -s "$KMS_TMP/sig.rsa256" ]; then
	kms_fail "pkcs11-tool --verify rejects a wrong signature: no SHA256-RSA-PKCS signature to try"
elif "${P11T[@]}" --verify -m SHA256-RSA-PKCS --id 01 -i "$KMS_TMP/other" \
	--signature-file "$KMS_TMP/sig.rsa256" 2>&1 | grep -q "Signature is valid"; then
	kms_fail "pkcs11-tool --verify rejects a wrong signature"
else
	kms_ok "pkcs11-tool --verify rejects a wrong signature"
fi

# OAEP: openssl encrypts with the exported public key, the module decrypts.
head -c 100 /dev/urandom >"$KMS_TMP/plain"
for h in sha256 sha1; do
	H=${h^^}
	p11h=$H
	[ "$h" = sha1 ] && p11h=SHA-1
	kms_run "openssl encrypts OAEP $h" openssl pkeyutl -encrypt -pubin -inkey "$KMS_TMP/rsadec.pem" \
		-pkeyopt rsa_padding_mode:oaep -pkeyopt "rsa_oaep_md:$h" -pkeyopt "rsa_mgf1_md:$h" \
		-in "$KMS_TMP/plain" -out "$KMS_TMP/ct.$h" || continue
	if kms_run "decrypt RSA-PKCS-OAEP $h" "${P11T[@]}" --login --pin "$KMS_PIN" --decrypt \
		-m RSA-PKCS-OAEP --hash-algorithm "$p11h" --mgf "MGF1-$H" --id 06 \
		-i "$KMS_TMP/ct.$h" -o "$KMS_TMP/dec.$h"; then
		kms_check "OAEP $h plaintext round-trips" cmp -s "$KMS_TMP/plain" "$KMS_TMP/dec.$h"
	fi
done

# pkcs11-tool's own self test.
if kms_run "pkcs11-tool --test --login" "${P11T[@]}" --test --login --pin "$KMS_PIN"; then
	:
fi
cp "$KMS_TMP/last.log" "$KMS_TMP/selftest.log"
# Its last line is "No errors" or "N errors"; any "failed" or "ERR" line is a failure too.
if grep -Ei "failed" "$KMS_TMP/selftest.log" | grep -q . || grep -Eq "\bERR" "$KMS_TMP/selftest.log"; then
	kms_fail "pkcs11-tool --test output has no 'failed'/'ERR'"
	grep -Ei "failed|\bERR" "$KMS_TMP/selftest.log" | head -n 20 | sed 's/^/    | /'
else
	kms_ok "pkcs11-tool --test output has no 'failed'/'ERR'"
fi
kms_check "pkcs11-tool --test says 'No errors'" grep -qx "No errors" "$KMS_TMP/selftest.log"

# A key generated with --always-auth: pkcs11-tool logs in for the operation (CKU_CONTEXT_SPECIFIC) and signs.
kms_run "generate an always-authenticate P-256 key" "${P11T[@]}" --login --pin "$KMS_PIN" --keypairgen \
	--key-type EC:prime256v1 --id 77 --label always-auth --always-auth || true
kms_check "the private key says 'always authenticate'" grep -q "always authenticate" "$KMS_TMP/last.log"
if kms_run "sign with the always-authenticate key" "${P11T[@]}" --login --pin "$KMS_PIN" --sign -m ECDSA-SHA256 \
	--signature-format openssl --id 77 -i "$KMS_TMP/data" -o "$KMS_TMP/aa.sig"; then
	kms_try "${P11T[@]}" --read-object --type pubkey --id 77 -o "$KMS_TMP/aa.der" || true
	kms_run "openssl verifies the always-authenticate signature" openssl dgst -sha256 -verify "$KMS_TMP/aa.der" \
		-keyform DER -signature "$KMS_TMP/aa.sig" "$KMS_TMP/data" || true
fi

kms_finish
