#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# KMS11_DEBUG=3 says why each failing call failed, without secrets: a wrong PIN, an unsupported curve, a template
# conflict (the attribute), a refused key size (the function and its code), a store that cannot be opened (the
# file and the permission, in the system-store suite); and with KMS11_DEBUG unset the module writes nothing.
. "$(dirname "$0")/common.sh"
kms_need pkcs11-tool
PIN_WRONG=97531
kms_token_init
export KMS11_LOG="$KMS_TMP/kms11.log"
run3() { KMS11_DEBUG=3 "$@" >/dev/null 2>&1 || true; }
run3 "${P11T[@]}" --login --pin "$PIN_WRONG" -O
kms_check "a wrong PIN: the log says so" grep -q "DEBUG: token '.*': wrong user PIN" "$KMS11_LOG"
kms_check "... and C_Login's code" grep -q "DEBUG: C_Login: CKR_PIN_INCORRECT" "$KMS11_LOG"
run3 "${P11T[@]}" --login --pin "$KMS_PIN" --keypairgen --key-type EC:secp256k1 --label k1
kms_check "an unsupported curve: named, with its OID" grep -q "curve secp256k1 (1.3.132.0.10) is not offered" "$KMS11_LOG"
run3 /usr/bin/python3 - "$KMS11_MODULE" "$KMS_PIN" <<'PY'
import sys, PyKCS11
from PyKCS11.LowLevel import *
lib = PyKCS11.PyKCS11Lib(); lib.load(sys.argv[1])
s = lib.openSession(lib.getSlotList(tokenPresent=True)[0], PyKCS11.CKF_RW_SESSION); s.login(sys.argv[2])
try:
    s.createObject([(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_VALUE, b"k" * 16), (CKA_LOCAL, True)])
except PyKCS11.PyKCS11Error:
    pass
PY
kms_check "a template conflict: the attribute (CKA_LOCAL, 0x163) and why" \
	grep -q "template: attribute 0x163 (1 bytes) of a secret key object: CKR_ATTRIBUTE_READ_ONLY" "$KMS11_LOG"
run3 "${P11T[@]}" --login --pin "$KMS_PIN" --keygen --key-type AES:7 --label a7
kms_check "a refused key size: the function and its code" grep -q "C_GenerateKey: CKR_KEY_SIZE_RANGE" "$KMS11_LOG"
kms_check "no PIN in the log" bash -c "! grep -q -e '$PIN_WRONG' -e '$KMS_PIN' '$KMS11_LOG'"
: >"$KMS11_LOG"
unset KMS11_LOG
"${P11T[@]}" --login --pin "$PIN_WRONG" -O >/dev/null 2>"$KMS_TMP/quiet.err" || true
kms_check "without KMS11_DEBUG the module writes nothing" bash -c "! grep -q 'kms11\[' '$KMS_TMP/quiet.err'"
kms_finish
