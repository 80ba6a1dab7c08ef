#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Seeds kms11 tokens with keys through PyKCS11, as any PKCS#11 application would, with the management facts as
# vendor attributes; prints a JSON list describing what it made (the oracle of the list tests).
#   seed-keys.py MODULE TOKEN PIN PREFIX SPEC...
# SPEC: name:ALG:SIZE:tag1,tag2:{"metadata":...}   (ALG RSA, ECDSA, Ed25519, AES)
import json
import sys

import PyKCS11

KM = 0x80000000 | 0x4B4D0000
TAGS, META = KM + 5, KM + 6
OIDS = {256: b"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 384: b"\x06\x05\x2b\x81\x04\x00\x22"}
ED25519 = b"\x06\x03\x2b\x65\x70"


def main():
    module, token, pin, prefix = sys.argv[1:5]
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slot = [s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == token][0]
    s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    s.login(pin)
    made = []
    for spec in sys.argv[5:]:
        name, alg, size, tags, meta = spec.split(":", 4)
        name = prefix + name
        size = int(size)
        tag_list = [t for t in tags.split(",") if t]
        facts = [(PyKCS11.CKA_LABEL, name)]
        if tag_list:
            facts.append((TAGS, b"".join(t.encode() + b"\0" for t in tag_list)))
        if meta:
            facts.append((META, meta.encode()))
        common = [(PyKCS11.CKA_TOKEN, True)] + facts
        if alg == "AES":
            s.generateKey(common + [(PyKCS11.CKA_CLASS, PyKCS11.CKO_SECRET_KEY),
                                    (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_AES), (PyKCS11.CKA_VALUE_LEN, size // 8)],
                          PyKCS11.Mechanism(PyKCS11.CKM_AES_KEY_GEN))
        else:
            if alg == "RSA":
                pub = [(PyKCS11.CKA_MODULUS_BITS, size), (PyKCS11.CKA_PUBLIC_EXPONENT, (1, 0, 1))]
                mech = PyKCS11.CKM_RSA_PKCS_KEY_PAIR_GEN
            elif alg == "ECDSA":
                pub = [(PyKCS11.CKA_EC_PARAMS, OIDS[size])]
                mech = PyKCS11.CKM_EC_KEY_PAIR_GEN
            else:
                pub = [(PyKCS11.CKA_EC_PARAMS, ED25519)]
                mech = PyKCS11.CKM_EC_EDWARDS_KEY_PAIR_GEN
            s.generateKeyPair(common + pub, common + [(PyKCS11.CKA_PRIVATE, True), (PyKCS11.CKA_SIGN, True)],
                              PyKCS11.Mechanism(mech))
        made.append({"name": name, "algorithm": alg, "size": size, "tags": tag_list,
                     "metadata": json.loads(meta) if meta else {}, "engine_id": token})
    print(json.dumps(made))


if __name__ == "__main__":
    main()
