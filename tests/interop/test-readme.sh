#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The README's examples run exactly as written: tests/readme-blocks.py takes each fenced block from README.md and
# fails on a block without a marker. The blocks marked "<!-- example: NAME -->" of one NAME run in order, as one
# bash -e script, in a directory of their own whose "build" is the build directory under test, with HOME there too
# (so the default store is fresh) and no KMS11_* variables. A block changed so that it no longer works fails here.
# (The blocks that name installed paths run in CI's Debian-package stage: tests/readme-installed.sh.)
. "$(dirname "$0")/common.sh"
kms_need pkcs11-tool p11tool softhsm2-util openssl xxd
/usr/bin/python3 -c 'import PyKCS11, cryptography' 2>/dev/null || kms_die "python3-pykcs11 and python3-cryptography are needed"
: "${BUILDDIR:?BUILDDIR must name the build directory}"
readme="$(dirname "$0")/../../README.md"
[ -f "$readme" ] || kms_die "no README.md at $readme"
blocks="$KMS_TMP/blocks"
if /usr/bin/python3 "$(dirname "$0")/../readme-blocks.py" "$readme" "$blocks" 2>"$KMS_TMP/blocks.err"; then
	kms_ok "every fenced block of the README has a marker saying what runs it"
else
	kms_fail "README: $(cat "$KMS_TMP/blocks.err")"
fi
[ -f "$blocks/index" ] || kms_die "extracting the README's examples: $(cat "$KMS_TMP/blocks.err")"
mkdir -p "$KMS_TMP/examples"
while read -r no kind name; do
	[ "$kind" = sh ] && cat "$blocks/$no" >>"$KMS_TMP/examples/$name.sh"
done <"$blocks/index"
ls "$KMS_TMP/examples" >"$KMS_TMP/names"
kms_check "the README marks its examples (using, cli, softhsm)" \
	[ "$(tr '\n' ' ' <"$KMS_TMP/names")" = "cli.sh softhsm.sh using.sh " ]
for ex in "$KMS_TMP"/examples/*.sh; do
	name=$(basename "$ex" .sh)
	dir="$KMS_TMP/run-$name"
	mkdir -p "$dir/home"
	ln -s "$(cd "$BUILDDIR" && pwd)" "$dir/build"
	if (cd "$dir" && env -u KMS11_STORE -u KMS11_CONF -u KMS11_PIN -u XDG_DATA_HOME -u SOFTHSM2_CONF HOME="$dir/home" \
		PATH="/usr/bin:$PATH" bash -eo pipefail "$ex" >"$dir/out.log" 2>&1); then
		kms_ok "README example '$name' runs as written"
	else
		kms_fail "README example '$name': $(tail -5 "$dir/out.log")"
	fi
done
kms_check "... 'using' signed the message with the key it made" [ -s "$KMS_TMP/run-using/msg.sig" ]
kms_check "... and listed the key through p11tool" grep -q "object=web" "$KMS_TMP/run-using/out.log"
U="$KMS_TMP/run-using"
kms_check "... libp11's engine made a certificate that verifies under its own key" \
	openssl verify -CAfile "$U/web.crt" "$U/web.crt"
env -u KMS11_STORE -u KMS11_CONF -u XDG_DATA_HOME HOME="$U/home" \
	pkcs11-tool --module "$BUILDDIR/module/pkcs11/libkms11.so" --read-object --type pubkey --label web -o "$U/pub.der" \
	>/dev/null 2>&1 || true
kms_check "... whose key is the token's key web" \
	[ "$(openssl x509 -in "$U/web.crt" -noout -pubkey | openssl pkey -pubin -outform DER | xxd -p)" = "$(xxd -p "$U/pub.der")" ]
kms_check "... PyKCS11's signature verifies with that certificate" /usr/bin/python3 -c '
import sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
sig = open(sys.argv[1] + "/py.sig", "rb").read()
assert len(sig) == 64, len(sig)
der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
cert = x509.load_pem_x509_certificate(open(sys.argv[1] + "/web.crt", "rb").read())
cert.public_key().verify(der, b"hello\n", ec.ECDSA(hashes.SHA256()))' "$U"
kms_check "... 'cli' ended with the key disabled" grep -q '"state": "disabled"' "$KMS_TMP/run-cli/out.log"
kms_check "... 'softhsm': SoftHSMv2 shows the key sensitive, never extractable" \
	grep -q "sensitive, always sensitive, never extractable" "$KMS_TMP/run-softhsm/out.log"
kms_finish
