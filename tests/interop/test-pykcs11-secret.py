#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Interop suite: PyKCS11 with secret keys, AES modes and GCM, CMAC, HMAC, digests, wrap/unwrap (AES-KW, KWP,
# RSA-OAEP, RSA-AES, GCM) and the wrap rules, ECDH derivation and certificate attributes; Python's hashlib/hmac
# and the cryptography package are the reference.
"""Run with /usr/bin/python3 (Debian's python3-pykcs11 and python3-cryptography); exits non-zero on any failure.

Environment: KMS11_MODULE (the module); KMS11_STORE is set here to a fresh temporary store.
PyKCS11 has no classes for the CK_AES_CTR_PARAMS, CK_MAC_GENERAL_PARAMS and CK_RSA_AES_KEY_WRAP_PARAMS
parameters: they are passed as raw bytes laid out as the C structures (native CK_ULONG and pointers).
"""

import ctypes
import datetime
import hashlib
import hmac
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import traceback

try:
    import PyKCS11
    from PyKCS11 import (CKA_CLASS, CKA_KEY_TYPE, CKA_VALUE, CKA_VALUE_LEN, CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN,
                         CKA_VERIFY, CKA_WRAP, CKA_UNWRAP, CKA_EXTRACTABLE, CKA_SENSITIVE, CKA_DERIVE, CKA_TOKEN,
                         CKA_CHECK_VALUE,
                         CKA_EC_PARAMS, CKA_EC_POINT, CKA_TRUSTED, CKA_WRAP_WITH_TRUSTED, CKA_MODULUS,
                         CKA_PUBLIC_EXPONENT, CKA_MODULUS_BITS, CKA_CERTIFICATE_TYPE, CKA_SUBJECT, CKA_ISSUER,
                         CKA_SERIAL_NUMBER, CKA_START_DATE, CKA_END_DATE, CKA_PUBLIC_KEY_INFO, CKA_ID, CKA_LABEL,
                         CKA_APPLICATION, CKO_DATA, CKO_SECRET_KEY, CKO_CERTIFICATE, CKK_AES, CKK_GENERIC_SECRET,
                         CKK_SHA256_HMAC, CKC_X_509, CKM_SHA_1_HMAC, CKM_SHA256_HMAC, CKM_SHA384_HMAC,
                         CKM_SHA512_HMAC, CKM_SHA256_HMAC_GENERAL, CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384,
                         CKM_SHA512, CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_CTR, CKM_AES_CMAC,
                         CKM_AES_CMAC_GENERAL, CKM_AES_KEY_WRAP, CKM_AES_KEY_GEN, CKM_GENERIC_SECRET_KEY_GEN,
                         CKM_EC_KEY_PAIR_GEN, CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_RSA_AES_KEY_WRAP, CKD_NULL,
                         CKD_SHA256_KDF, CKD_SHA512_KDF, CKR_ENCRYPTED_DATA_INVALID, CKR_KEY_UNEXTRACTABLE,
                         CKR_KEY_FUNCTION_NOT_PERMITTED, CKR_KEY_NOT_WRAPPABLE, CKR_ATTRIBUTE_READ_ONLY,
                         CKR_ATTRIBUTE_SENSITIVE, CKR_WRAPPED_KEY_INVALID, CKF_SERIAL_SESSION, CKF_RW_SESSION,
                         CKU_SO, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED)
    from cryptography import x509
    from cryptography.hazmat.primitives import cmac, hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, x25519
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap, aes_key_wrap_with_padding
    from cryptography.x509.oid import NameOID
except ImportError as e:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("FAIL: %s (packages python3-pykcs11 and python3-cryptography)" % e, file=sys.stderr)
    sys.exit(1)

CKM_SHA3_256, CKM_SHA3_384, CKM_SHA3_512 = 0x2B0, 0x2C0, 0x2D0
CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP_KWP = 0x210A, 0x210B
CKM_EC_MONTGOMERY_KEY_PAIR_GEN = 0x1056
SO_PIN, PIN = "12345678", "1234"
P256 = bytes.fromhex("06082a8648ce3d030107")
P384 = bytes.fromhex("06052b81040022")
P521 = bytes.fromhex("06052b81040023")
X25519_OID = bytes.fromhex("06032b656e")
passed = failed = 0


def check(desc, cond):
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + desc, flush=True)
    else:
        failed += 1
        print("not ok - " + desc, flush=True)


def ckr(rv):
    return PyKCS11.CKR.get(rv, hex(rv))


def expect(desc, want, fn, *args, **kwargs):
    """Passes when fn raises the CKR `want` (or one of a tuple of them)."""
    try:
        fn(*args, **kwargs)
        got = PyKCS11.CKR_OK
    except PyKCS11.PyKCS11Error as e:
        got = e.value
    wants = want if isinstance(want, tuple) else (want,)
    check("%s: %s%s" % (desc, ckr(got), "" if got in wants else " (want %s)" % " or ".join(map(ckr, wants))),
          got in wants)


def hv(h):
    return h.value()


def mech(m, param=None):
    return PyKCS11.Mechanism(m, param)


def ulong(v):
    """A CK_ULONG as the module's ABI lays it out."""
    return struct.pack("@L", v)


def secret(s, kt, value, **flags):
    t = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, kt), (CKA_VALUE, value)]
    t += [(getattr(PyKCS11, "CKA_" + k.upper()), v) for k, v in flags.items()]
    return s.createObject(t)


def value(s, h):
    return bytes(s.getAttributeValue(h, [CKA_VALUE])[0])


def attr_rv(s, h, a):
    """The CKR of a C_GetAttributeValue size query for one attribute (PyKCS11 hides it)."""
    t = PyKCS11.LowLevel.ckattrlist(1)
    t[0].SetType(a)
    return s.lib.C_GetAttributeValue(s.session, h, t)


def flags(s, h, names):
    return dict(zip(names, s.getAttributeValue(h, [getattr(PyKCS11, "CKA_" + n) for n in names])))


def aes(key, mode, data, encrypt=True):
    c = Cipher(algorithms.AES(key), mode)
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(data) + op.finalize()


def main():
    tmp = tempfile.mkdtemp(prefix="kms11-pyk-")
    os.environ["KMS11_STORE"] = os.path.join(tmp, "store")
    try:
        lib = PyKCS11.PyKCS11Lib()
        lib.load(os.environ["KMS11_MODULE"])
        slot = lib.getSlotList()[0]
        lib.initToken(slot, SO_PIN, "kms11")
        s = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        s.login(SO_PIN, CKU_SO)
        s.initPin(PIN)
        s.logout()
        s.login(PIN)
        # One section's unexpected error is one failure; the next section still runs.
        for section in (digests, keygen_defaults, hmacs, aes_modes, cmacs, gcm, wrap_aes, wrap_rsa, wrap_rules,
                        ecdh, certificate, data_object):
            try:
                section(s, tmp)
            except Exception as e:  # noqa: BLE001 (reported as a failed check)
                check("%s ran to its end (%s: %s)" % (section.__name__, type(e).__name__, e), False)
                traceback.print_exc(file=sys.stdout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("# checks: %d ok, %d not ok" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


def digests(s, tmp):
    data = os.urandom(1000)
    for m, name in ((CKM_SHA_1, "sha1"), (CKM_SHA224, "sha224"), (CKM_SHA256, "sha256"), (CKM_SHA384, "sha384"),
                    (CKM_SHA512, "sha512"), (CKM_SHA3_256, "sha3_256"), (CKM_SHA3_384, "sha3_384"),
                    (CKM_SHA3_512, "sha3_512")):
        got = bytes(s.digest(data, mech(m)))
        check("digest %s equals hashlib" % name, got == hashlib.new(name, data).digest())


def keygen_defaults(s, tmp):
    k = s.generateKey([(CKA_CLASS, CKO_SECRET_KEY), (CKA_VALUE_LEN, 32), (CKA_TOKEN, True), (CKA_LABEL, "gen")],
                      mech(CKM_AES_KEY_GEN))
    f = flags(s, k, ["KEY_TYPE", "VALUE_LEN", "SENSITIVE", "EXTRACTABLE", "PRIVATE", "ALWAYS_SENSITIVE",
                     "NEVER_EXTRACTABLE", "LOCAL"])
    check("C_GenerateKey AES: CKK_AES of 32 bytes", f["KEY_TYPE"] == CKK_AES and f["VALUE_LEN"] == 32)
    check("a generated secret key defaults to CKA_SENSITIVE true", f["SENSITIVE"] is True)
    check("a generated secret key defaults to CKA_EXTRACTABLE false", f["EXTRACTABLE"] is False)
    check("a generated secret key defaults to CKA_PRIVATE true", f["PRIVATE"] is True)
    check("a generated secret key is ALWAYS_SENSITIVE, NEVER_EXTRACTABLE and LOCAL",
          f["ALWAYS_SENSITIVE"] is True and f["NEVER_EXTRACTABLE"] is True and f["LOCAL"] is True)
    rv = attr_rv(s, k, CKA_VALUE)
    check("its CKA_VALUE is not readable: %s" % ckr(rv), rv == CKR_ATTRIBUTE_SENSITIVE)
    expect("CKA_SENSITIVE cannot go back to false", CKR_ATTRIBUTE_READ_ONLY, s.setAttributeValue, k,
           [(CKA_SENSITIVE, False)])
    expect("CKA_EXTRACTABLE cannot go to true", CKR_ATTRIBUTE_READ_ONLY, s.setAttributeValue, k,
           [(CKA_EXTRACTABLE, True)])
    known = os.urandom(16)
    imp = secret(s, CKK_AES, known)
    f = flags(s, imp, ["SENSITIVE", "EXTRACTABLE", "PRIVATE", "LOCAL", "VALUE_LEN", "CHECK_VALUE"])
    check("an imported secret key defaults to sensitive, not extractable, private, not local",
          f["SENSITIVE"] is True and f["EXTRACTABLE"] is False and f["PRIVATE"] is True and f["LOCAL"] is False)
    check("an imported AES key has CKA_VALUE_LEN 16", f["VALUE_LEN"] == 16)
    check("CKA_CHECK_VALUE of an AES key is ECB(key, 0^16)[:3]",
          bytes(f["CHECK_VALUE"]) == aes(known, modes.ECB(), bytes(16))[:3])
    g = s.generateKey([(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_SHA256_HMAC), (CKA_VALUE_LEN, 40),
                       (CKA_SIGN, True), (CKA_VERIFY, True), (CKA_SENSITIVE, False), (CKA_EXTRACTABLE, True)],
                      mech(CKM_GENERIC_SECRET_KEY_GEN))
    gv = value(s, g)
    check("C_GenerateKey GENERIC_SECRET makes a CKK_SHA256_HMAC key of 40 bytes",
          s.getAttributeValue(g, [CKA_KEY_TYPE])[0] == CKK_SHA256_HMAC and len(gv) == 40)
    data = os.urandom(77)
    check("the generated HMAC key signs as Python's hmac does",
          bytes(s.sign(g, data, mech(CKM_SHA256_HMAC))) == hmac.new(gv, data, "sha256").digest())
    g2 = s.generateKey([(CKA_CLASS, CKO_SECRET_KEY), (CKA_VALUE_LEN, 16)], mech(CKM_AES_KEY_GEN))
    check("two generated keys differ in their check values",
          bytes(s.getAttributeValue(k, [CKA_CHECK_VALUE])[0]) != bytes(s.getAttributeValue(g2, [CKA_CHECK_VALUE])[0]))


def hmacs(s, tmp):
    data = os.urandom(1000)
    hkey = os.urandom(40)
    hk = secret(s, CKK_GENERIC_SECRET, hkey, sign=True, verify=True)
    for m, name in ((CKM_SHA_1_HMAC, "sha1"), (CKM_SHA256_HMAC, "sha256"), (CKM_SHA384_HMAC, "sha384"),
                    (CKM_SHA512_HMAC, "sha512")):
        mac = bytes(s.sign(hk, data, mech(m)))
        check("HMAC-%s equals hmac" % name, mac == hmac.new(hkey, data, name).digest())
        check("HMAC-%s verifies" % name, s.verify(hk, data, mac, mech(m)))
        bad = bytes([mac[0] ^ 1]) + mac[1:]
        check("HMAC-%s with a wrong MAC does not verify" % name, not s.verify(hk, data, bad, mech(m)))
    expect("HMAC verify with a MAC one byte short", PyKCS11.CKR_SIGNATURE_LEN_RANGE, s.verify, hk, data, mac[:-1],
           mech(CKM_SHA512_HMAC))
    mac = bytes(s.sign(hk, data, mech(CKM_SHA256_HMAC_GENERAL, ulong(16))))
    check("SHA256-HMAC-GENERAL (16 bytes) is the truncated HMAC", mac == hmac.new(hkey, data, "sha256").digest()[:16])
    big = hashlib.sha512(b"long").digest() * 3
    bk = secret(s, CKK_GENERIC_SECRET, big, sign=True)
    check("HMAC with a key longer than the block equals hmac",
          bytes(s.sign(bk, data, mech(CKM_SHA256_HMAC))) == hmac.new(big, data, "sha256").digest())
    nosign = secret(s, CKK_GENERIC_SECRET, hkey, sign=False)
    expect("HMAC with a key without CKA_SIGN", CKR_KEY_FUNCTION_NOT_PERMITTED, s.sign, nosign, data,
           mech(CKM_SHA256_HMAC))


def aes_modes(s, tmp):
    for size in (16, 24, 32):
        key = os.urandom(size)
        k = secret(s, CKK_AES, key, encrypt=True, decrypt=True)
        iv = os.urandom(16)
        blocks = os.urandom(64)
        msg = os.urandom(100)
        bits = size * 8
        ecb = bytes(s.encrypt(k, blocks, mech(CKM_AES_ECB)))
        check("AES-%d-ECB equals cryptography" % bits, ecb == aes(key, modes.ECB(), blocks))
        check("AES-%d-ECB decrypts" % bits, bytes(s.decrypt(k, ecb, mech(CKM_AES_ECB))) == blocks)
        cbc = bytes(s.encrypt(k, blocks, mech(CKM_AES_CBC, iv)))
        check("AES-%d-CBC equals cryptography" % bits, cbc == aes(key, modes.CBC(iv), blocks))
        pad = 16 - len(msg) % 16
        cbcp = bytes(s.encrypt(k, msg, mech(CKM_AES_CBC_PAD, iv)))
        check("AES-%d-CBC-PAD equals cryptography with PKCS#7 padding" % bits,
              cbcp == aes(key, modes.CBC(iv), msg + bytes([pad]) * pad))
        check("AES-%d-CBC-PAD decrypts" % bits, bytes(s.decrypt(k, cbcp, mech(CKM_AES_CBC_PAD, iv))) == msg)
        ctr = bytes(s.encrypt(k, msg, mech(CKM_AES_CTR, ulong(128) + iv)))
        check("AES-%d-CTR equals cryptography" % bits, ctr == aes(key, modes.CTR(iv), msg))
        check("AES-%d-CTR decrypts" % bits, bytes(s.decrypt(k, ctr, mech(CKM_AES_CTR, ulong(128) + iv))) == msg)


def cmacs(s, tmp):
    for size in (16, 32):
        key = os.urandom(size)
        k = secret(s, CKK_AES, key, sign=True, verify=True)
        for n in (16, 45, 64):
            data = os.urandom(n)
            c = cmac.CMAC(algorithms.AES(key))
            c.update(data)
            want = c.finalize()
            got = bytes(s.sign(k, data, mech(CKM_AES_CMAC)))
            check("AES-%d-CMAC of %d bytes equals cryptography" % (size * 8, n), got == want)
            check("AES-%d-CMAC verifies" % (size * 8), s.verify(k, data, got, mech(CKM_AES_CMAC)))
        check("AES-%d-CMAC with a wrong MAC does not verify" % (size * 8),
              not s.verify(k, data, bytes([want[0] ^ 1]) + want[1:], mech(CKM_AES_CMAC)))
        got = bytes(s.sign(k, data, mech(CKM_AES_CMAC_GENERAL, ulong(8))))
        check("AES-%d-CMAC-GENERAL (8 bytes) is the truncated CMAC" % (size * 8), got == want[:8])


def gcm(s, tmp):
    akey = os.urandom(32)
    ak = secret(s, CKK_AES, akey, encrypt=True, decrypt=True)
    iv, aad, pt = os.urandom(12), b"header data", os.urandom(333)
    m = PyKCS11.AES_GCM_Mechanism(iv, aad, 128)
    ct = bytes(s.encrypt(ak, pt, m))
    check("AES-256-GCM ciphertext and tag equal cryptography's", ct == AESGCM(akey).encrypt(iv, pt, aad))
    check("AES-256-GCM decrypts", bytes(s.decrypt(ak, ct, m)) == pt)
    check("AES-256-GCM decrypts cryptography's output",
          bytes(s.decrypt(ak, AESGCM(akey).encrypt(iv, pt[:50], aad), m)) == pt[:50])
    expect("AES-GCM with a tampered tag", CKR_ENCRYPTED_DATA_INVALID, s.decrypt, ak, ct[:-1] + bytes([ct[-1] ^ 1]), m)
    expect("AES-GCM with a tampered ciphertext", CKR_ENCRYPTED_DATA_INVALID, s.decrypt, ak,
           bytes([ct[0] ^ 0x80]) + ct[1:], m)
    expect("AES-GCM with tampered AAD", CKR_ENCRYPTED_DATA_INVALID, s.decrypt, ak, ct,
           PyKCS11.AES_GCM_Mechanism(iv, b"header datA", 128))
    m96 = PyKCS11.AES_GCM_Mechanism(iv, aad, 96)
    ct96 = bytes(s.encrypt(ak, pt, m96))
    check("AES-GCM with a 96-bit tag is the 128-bit output cut short", ct96 == ct[:-4])
    key128 = os.urandom(16)
    k128 = secret(s, CKK_AES, key128, encrypt=True)
    iv16 = os.urandom(16)
    check("AES-128-GCM with a 16-byte IV and no AAD equals cryptography's",
          bytes(s.encrypt(k128, pt, PyKCS11.AES_GCM_Mechanism(iv16, b"", 128))) ==
          AESGCM(key128).encrypt(iv16, pt, None))


def wrap_aes(s, tmp):
    akey = os.urandom(32)
    ak = secret(s, CKK_AES, akey, wrap=True, unwrap=True)
    target = os.urandom(24)
    tk = secret(s, CKK_AES, target, extractable=True, encrypt=True)
    w = bytes(s.wrapKey(ak, tk, mech(CKM_AES_KEY_WRAP)))
    check("AES-KW wrapped key equals RFC 3394 (cryptography)", w == aes_key_wrap(akey, target))
    odd = os.urandom(21)
    ok = secret(s, CKK_GENERIC_SECRET, odd, extractable=True)
    for m, name in ((CKM_AES_KEY_WRAP_KWP, "KWP"), (CKM_AES_KEY_WRAP_PAD, "KEY_WRAP_PAD")):
        w2 = bytes(s.wrapKey(ak, tk, mech(m)))
        check("AES-%s wrapped key equals RFC 5649 (cryptography)" % name, w2 == aes_key_wrap_with_padding(akey, target))
        w3 = bytes(s.wrapKey(ak, ok, mech(m)))
        check("AES-%s of a 21-byte key equals RFC 5649 (cryptography)" % name,
              w3 == aes_key_wrap_with_padding(akey, odd))
    expect("AES-KW (no padding) of a 21-byte key", (PyKCS11.CKR_KEY_SIZE_RANGE, CKR_KEY_NOT_WRAPPABLE), s.wrapKey,
           ak, ok, mech(CKM_AES_KEY_WRAP))
    tmpl = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_SENSITIVE, False), (CKA_EXTRACTABLE, True),
            (CKA_ENCRYPT, True)]
    u = s.unwrapKey(ak, w, tmpl, mech(CKM_AES_KEY_WRAP))
    check("AES-KW unwrapped key has the original value", value(s, u) == target)
    gtmpl = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_GENERIC_SECRET), (CKA_SENSITIVE, False),
             (CKA_EXTRACTABLE, True)]
    u2 = s.unwrapKey(ak, aes_key_wrap_with_padding(akey, odd), gtmpl, mech(CKM_AES_KEY_WRAP_KWP))
    check("KWP unwrap of cryptography's RFC 5649 blob gives the 21-byte key", value(s, u2) == odd)
    expect("AES-KW unwrap of a corrupted blob", CKR_WRAPPED_KEY_INVALID, s.unwrapKey, ak,
           w[:-1] + bytes([w[-1] ^ 1]), tmpl, mech(CKM_AES_KEY_WRAP))
    # AES-GCM as a wrapping mechanism: the wrapped key is the GCM encryption of its value.
    gk = secret(s, CKK_AES, akey, wrap=True, unwrap=True)
    iv, aad = os.urandom(12), b"wrap aad"
    wg = bytes(s.wrapKey(gk, tk, PyKCS11.AES_GCM_Mechanism(iv, aad, 128)))
    check("AES-GCM wrapped key equals cryptography's GCM of the key", wg == AESGCM(akey).encrypt(iv, target, aad))
    ug = s.unwrapKey(gk, wg, tmpl, PyKCS11.AES_GCM_Mechanism(iv, aad, 128))
    check("AES-GCM unwrap gives the key back", value(s, ug) == target)
    expect("AES-GCM unwrap with a tampered tag", CKR_WRAPPED_KEY_INVALID, s.unwrapKey, gk,
           wg[:-1] + bytes([wg[-1] ^ 1]), tmpl, PyKCS11.AES_GCM_Mechanism(iv, aad, 128))
    # A sensitive but extractable key may be wrapped (CKA_SENSITIVE only hides the plain value).
    sk_val = os.urandom(32)
    sk = secret(s, CKK_AES, sk_val, sensitive=True, extractable=True)
    check("a sensitive, extractable key wraps to RFC 3394 of its value",
          bytes(s.wrapKey(ak, sk, mech(CKM_AES_KEY_WRAP))) == aes_key_wrap(akey, sk_val))
    us = s.unwrapKey(ak, aes_key_wrap(akey, sk_val), [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES),
                                                       (CKA_ENCRYPT, True)], mech(CKM_AES_KEY_WRAP))
    f = flags(s, us, ["SENSITIVE", "EXTRACTABLE", "LOCAL", "ALWAYS_SENSITIVE", "NEVER_EXTRACTABLE"])
    check("an unwrapped key defaults to sensitive, not extractable, not local",
          f["SENSITIVE"] is True and f["EXTRACTABLE"] is False and f["LOCAL"] is False)
    check("an unwrapped key is neither ALWAYS_SENSITIVE nor NEVER_EXTRACTABLE",
          f["ALWAYS_SENSITIVE"] is False and f["NEVER_EXTRACTABLE"] is False)
    probe = os.urandom(16)
    check("the unwrapped key encrypts as the original",
          bytes(s.encrypt(us, probe, mech(CKM_AES_ECB))) == aes(sk_val, modes.ECB(), probe))


def wrap_rsa(s, tmp):
    target = os.urandom(32)
    tk = secret(s, CKK_AES, target, extractable=True, encrypt=True)
    pub, priv = s.generateKeyPair([(CKA_MODULUS_BITS, 2048), (CKA_WRAP, True), (CKA_ENCRYPT, True)],
                                  [(CKA_UNWRAP, True), (CKA_DECRYPT, True)],
                                  mecha=mech(CKM_RSA_PKCS_KEY_PAIR_GEN))
    n, e = (int.from_bytes(bytes(v), "big") for v in s.getAttributeValue(pub, [CKA_MODULUS, CKA_PUBLIC_EXPONENT]))
    rsapub = RSAPublicNumbers(e, n).public_key()
    oaep_py = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    oaep = PyKCS11.RSAOAEPMechanism(CKM_SHA256, CKG_MGF1_SHA256)
    tmpl = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_SENSITIVE, False), (CKA_EXTRACTABLE, True),
            (CKA_ENCRYPT, True)]
    u = s.unwrapKey(priv, rsapub.encrypt(target, oaep_py), tmpl, oaep)
    check("RSA-OAEP unwrap of cryptography's OAEP gives the key", value(s, u) == target)
    probe = os.urandom(32)
    check("the RSA-OAEP unwrapped key encrypts as the known key",
          bytes(s.encrypt(u, probe, mech(CKM_AES_ECB))) == aes(target, modes.ECB(), probe))
    w = bytes(s.wrapKey(pub, tk, oaep))
    check("RSA-OAEP wrapped key is one modulus long", len(w) == 256)
    check("RSA-OAEP wrap then unwrap gives the key", value(s, s.unwrapKey(priv, w, tmpl, oaep)) == target)
    # CKM_RSA_AES_KEY_WRAP: RSA-OAEP of a one-time AES key, then KWP of the target under it (PKCS#11 2.40, 2.1.21).
    oaep_params = ctypes.create_string_buffer(struct.pack("@LLLPL", CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED,
                                                          0, 0))
    ra_param = struct.pack("@LP", 256, ctypes.addressof(oaep_params))
    eph = os.urandom(32)
    blob = rsapub.encrypt(eph, oaep_py) + aes_key_wrap_with_padding(eph, target)
    u2 = s.unwrapKey(priv, blob, tmpl, mech(CKM_RSA_AES_KEY_WRAP, ra_param))
    check("RSA-AES unwrap of cryptography's OAEP||KWP blob gives the key", value(s, u2) == target)
    w2 = bytes(s.wrapKey(pub, tk, mech(CKM_RSA_AES_KEY_WRAP, ra_param)))
    check("RSA-AES wrapped key is OAEP (256) then KWP (40) bytes", len(w2) == 256 + 40)
    u3 = s.unwrapKey(priv, w2, tmpl, mech(CKM_RSA_AES_KEY_WRAP, ra_param))
    check("RSA-AES wrap then unwrap gives the key", value(s, u3) == target)
    del oaep_params


def wrap_rules(s, tmp):
    ak = secret(s, CKK_AES, os.urandom(32), wrap=True, unwrap=True)
    tk = secret(s, CKK_AES, os.urandom(16), extractable=True)
    stuck = secret(s, CKK_AES, os.urandom(16))
    expect("wrapping a non-extractable key", CKR_KEY_UNEXTRACTABLE, s.wrapKey, ak, stuck, mech(CKM_AES_KEY_WRAP))
    nowrap = secret(s, CKK_AES, os.urandom(16), wrap=False, unwrap=False)
    expect("wrapping with a key without CKA_WRAP", CKR_KEY_FUNCTION_NOT_PERMITTED, s.wrapKey, nowrap, tk,
           mech(CKM_AES_KEY_WRAP))
    w = bytes(s.wrapKey(ak, tk, mech(CKM_AES_KEY_WRAP)))
    expect("unwrapping with a key without CKA_UNWRAP", CKR_KEY_FUNCTION_NOT_PERMITTED, s.unwrapKey, nowrap, w,
           [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES)], mech(CKM_AES_KEY_WRAP))
    guarded = secret(s, CKK_AES, os.urandom(16), extractable=True, wrap_with_trusted=True)
    expect("CKA_WRAP_WITH_TRUSTED key under an untrusted wrapping key", CKR_KEY_NOT_WRAPPABLE, s.wrapKey, ak,
           guarded, mech(CKM_AES_KEY_WRAP))
    expect("a user setting CKA_TRUSTED", CKR_ATTRIBUTE_READ_ONLY, s.setAttributeValue, ak, [(CKA_TRUSTED, True)])
    expect("a user creating a key with CKA_TRUSTED", CKR_ATTRIBUTE_READ_ONLY, secret, s, CKK_AES, os.urandom(16),
           wrap=True, trusted=True)
    expect("CKA_WRAP_WITH_TRUSTED cannot be turned off", CKR_ATTRIBUTE_READ_ONLY, s.setAttributeValue, guarded,
           [(CKA_WRAP_WITH_TRUSTED, False)])


def ecdh_tmpl(n=None, kt=CKK_GENERIC_SECRET):
    t = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, kt), (CKA_SENSITIVE, False), (CKA_EXTRACTABLE, True)]
    return t + ([(CKA_VALUE_LEN, n)] if n else [])


def ecdh(s, tmp):
    for name, oid, curve in (("P-256", P256, ec.SECP256R1()), ("P-384", P384, ec.SECP384R1()),
                             ("P-521", P521, ec.SECP521R1())):
        pub, priv = s.generateKeyPair([(CKA_EC_PARAMS, oid)], [(CKA_DERIVE, True)], mecha=mech(CKM_EC_KEY_PAIR_GEN))
        point = bytes(s.getAttributeValue(pub, [CKA_EC_POINT])[0])
        point = point[3:] if point[1] == 0x81 else point[2:]  # DER OCTET STRING
        peer = ec.generate_private_key(curve)
        z = peer.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(curve, point))
        peer_pt = peer.public_key().public_bytes(serialization.Encoding.X962,
                                                 serialization.PublicFormat.UncompressedPoint)
        d = s.deriveKey(priv, ecdh_tmpl(), PyKCS11.ECDH1_DERIVE_Mechanism(peer_pt, CKD_NULL))
        check("ECDH %s (CKD_NULL) shared secret equals cryptography's" % name, value(s, d) == z)
        if name == "P-256":
            shared = b"kms11 shared info"
            d = s.deriveKey(priv, ecdh_tmpl(48), PyKCS11.ECDH1_DERIVE_Mechanism(peer_pt, CKD_SHA256_KDF, shared))
            want = X963KDF(hashes.SHA256(), 48, shared).derive(z)
            check("ECDH P-256 with CKD_SHA256_KDF (48 bytes, shared data) equals X9.63 KDF", value(s, d) == want)
            for kdf, h in ((PyKCS11.CKD_SHA1_KDF, hashes.SHA1()), (PyKCS11.CKD_SHA224_KDF, hashes.SHA224()),
                           (PyKCS11.CKD_SHA384_KDF, hashes.SHA384()), (CKD_SHA512_KDF, hashes.SHA512())):
                d = s.deriveKey(priv, ecdh_tmpl(20), PyKCS11.ECDH1_DERIVE_Mechanism(peer_pt, kdf, shared))
                check("ECDH P-256 with CKD_%s_KDF equals X9.63 KDF" % h.name.upper(),
                      value(s, d) == X963KDF(h, 20, shared).derive(z))
            off = bytearray(peer_pt)
            off[-1] ^= 1
            expect("ECDH with a peer point off the curve", (PyKCS11.CKR_MECHANISM_PARAM_INVALID,
                                                            PyKCS11.CKR_DOMAIN_PARAMS_INVALID),
                   s.deriveKey, priv, ecdh_tmpl(), PyKCS11.ECDH1_DERIVE_Mechanism(bytes(off), CKD_NULL))
            a = s.deriveKey(priv, [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_VALUE_LEN, 16),
                                   (CKA_ENCRYPT, True)],
                            PyKCS11.ECDH1_DERIVE_Mechanism(peer_pt, CKD_SHA256_KDF))
            probe = os.urandom(16)
            akey = X963KDF(hashes.SHA256(), 16, None).derive(z)
            check("an AES-128 key derived with CKD_SHA256_KDF encrypts as X9.63 KDF's key",
                  bytes(s.encrypt(a, probe, mech(CKM_AES_ECB))) == aes(akey, modes.ECB(), probe))
            rv = attr_rv(s, a, CKA_VALUE)
            check("the derived AES key is sensitive by default: %s" % ckr(rv), rv == CKR_ATTRIBUTE_SENSITIVE)
    # X25519 with a peer made by openssl genpkey.
    xpub, xpriv = s.generateKeyPair([(CKA_EC_PARAMS, X25519_OID)], [(CKA_DERIVE, True)],
                                    mecha=mech(CKM_EC_MONTGOMERY_KEY_PAIR_GEN))
    check("CKM_EC_MONTGOMERY_KEY_PAIR_GEN makes CKK_EC_MONTGOMERY keys",
          s.getAttributeValue(xpriv, [CKA_KEY_TYPE])[0] == PyKCS11.CKK_EC_MONTGOMERY)
    xpoint = bytes(s.getAttributeValue(xpub, [CKA_EC_POINT])[0])
    # PKCS#11 3.0 says raw bytes, most tokens (SoftHSMv2, OpenSC) a DER OCTET STRING: either is taken.
    xpoint = xpoint[2:] if len(xpoint) == 34 and xpoint[:2] == b"\x04\x20" else xpoint
    check("the X25519 CKA_EC_POINT holds a 32-byte key", len(xpoint) == 32)
    pem = os.path.join(tmp, "x25519.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "X25519", "-out", pem], check=True, capture_output=True)
    xpeer = serialization.load_pem_private_key(open(pem, "rb").read(), None)
    xz = xpeer.exchange(x25519.X25519PublicKey.from_public_bytes(xpoint))
    raw = xpeer.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    d2 = s.deriveKey(xpriv, ecdh_tmpl(), PyKCS11.ECDH1_DERIVE_Mechanism(raw, CKD_NULL))
    check("ECDH X25519 shared secret equals openssl's key's", value(s, d2) == xz)
    d3 = s.deriveKey(xpriv, ecdh_tmpl(64), PyKCS11.ECDH1_DERIVE_Mechanism(raw, CKD_SHA512_KDF))
    check("ECDH X25519 with CKD_SHA512_KDF equals X9.63 KDF",
          value(s, d3) == X963KDF(hashes.SHA512(), 64, None).derive(xz))


def certificate(s, tmp):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes",
                    "-keyout", os.path.join(tmp, "k.pem"), "-out", os.path.join(tmp, "c.der"), "-outform", "DER",
                    "-subj", "/CN=pykcs11/O=kms11", "-days", "30"], check=True, capture_output=True)
    der = open(os.path.join(tmp, "c.der"), "rb").read()
    cert = x509.load_der_x509_certificate(der)
    c = s.createObject([(CKA_CLASS, CKO_CERTIFICATE), (CKA_CERTIFICATE_TYPE, CKC_X_509), (CKA_VALUE, der),
                        (CKA_TOKEN, True), (CKA_LABEL, "pyk-cert")])
    a = [bytes(v) if not isinstance(v, str) else v.encode() for v in
         s.getAttributeValue(c, [CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER, CKA_START_DATE, CKA_END_DATE,
                                 CKA_PUBLIC_KEY_INFO, CKA_ID, CKA_CHECK_VALUE], allAsBinary=True)]
    check("CKA_SUBJECT equals the certificate's subject", a[0] == cert.subject.public_bytes())
    check("CKA_ISSUER equals the certificate's issuer", a[1] == cert.issuer.public_bytes())
    sn = cert.serial_number.to_bytes((cert.serial_number.bit_length() + 8) // 8, "big")
    check("CKA_SERIAL_NUMBER is the DER INTEGER of the serial", a[2] == bytes([2, len(sn)]) + sn)
    check("CKA_START_DATE is notBefore", a[3] == cert.not_valid_before.strftime("%Y%m%d").encode())
    check("CKA_END_DATE is notAfter", a[4] == cert.not_valid_after.strftime("%Y%m%d").encode())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    check("CKA_PUBLIC_KEY_INFO equals the certificate's SPKI", a[5] == spki)
    check("CKA_ID is the SHA-256 of the SPKI", a[6] == hashlib.sha256(spki).digest())
    check("CKA_CHECK_VALUE is the first 3 bytes of SHA-1 of the DER", a[7] == hashlib.sha1(der).digest()[:3])
    check("the certificate is found by CKA_SUBJECT",
          [hv(h) for h in s.findObjects([(CKA_CLASS, CKO_CERTIFICATE), (CKA_SUBJECT, a[0])])] == [hv(c)])
    expect("CKA_VALUE of a certificate cannot change", CKR_ATTRIBUTE_READ_ONLY, s.setAttributeValue, c,
           [(CKA_VALUE, der)])
    expect("a certificate whose CKA_VALUE is not X.509 DER", PyKCS11.CKR_ATTRIBUTE_VALUE_INVALID, s.createObject,
           [(CKA_CLASS, CKO_CERTIFICATE), (CKA_CERTIFICATE_TYPE, CKC_X_509), (CKA_VALUE, der[:-9])])
    # A certificate for a key pair made in the module shares the key pair's default CKA_ID.
    pub, priv = s.generateKeyPair([(CKA_EC_PARAMS, P256), (CKA_TOKEN, True)], [(CKA_TOKEN, True), (CKA_SIGN, True)],
                                  mecha=mech(CKM_EC_KEY_PAIR_GEN))
    point = bytes(s.getAttributeValue(pub, [CKA_EC_POINT])[0])[2:]
    mod_pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    ca = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.utcnow().replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "module key")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    mcert = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer).public_key(mod_pub)
             .serial_number(0x0102030405060708090A).not_valid_before(now)
             .not_valid_after(now + datetime.timedelta(days=400)).sign(ca, hashes.SHA256()))
    mder = mcert.public_bytes(serialization.Encoding.DER)
    mc = s.createObject([(CKA_CLASS, CKO_CERTIFICATE), (CKA_CERTIFICATE_TYPE, CKC_X_509), (CKA_VALUE, mder)])
    kid, pid, cid = (bytes(s.getAttributeValue(h, [CKA_ID])[0]) for h in (priv, pub, mc))
    mspki = mod_pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    check("the module key pair's default CKA_ID is SHA-256 of its SPKI", kid == pid == hashlib.sha256(mspki).digest())
    check("the certificate for it has the same CKA_ID", cid == kid)
    ms = [bytes(v) for v in s.getAttributeValue(mc, [CKA_ISSUER, CKA_SERIAL_NUMBER, CKA_END_DATE], allAsBinary=True)]
    check("CKA_ISSUER differs from the subject for a CA-signed certificate", ms[0] == issuer.public_bytes())
    check("a 10-byte serial is a DER INTEGER", ms[1] == bytes.fromhex("020a0102030405060708090a"))
    check("CKA_END_DATE is notAfter", ms[2] == (now + datetime.timedelta(days=400)).strftime("%Y%m%d").encode())


def data_object(s, tmp):
    blob = os.urandom(50)
    d = s.createObject([(CKA_CLASS, CKO_DATA), (CKA_APPLICATION, "kms11-test"), (CKA_VALUE, blob),
                        (CKA_LABEL, "dobj"), (CKA_TOKEN, True)])
    found = s.findObjects([(CKA_CLASS, CKO_DATA), (CKA_APPLICATION, "kms11-test")])
    check("a data object is found by CKA_APPLICATION", [hv(h) for h in found] == [hv(d)])
    check("its CKA_VALUE reads back", value(s, d) == blob)


if __name__ == "__main__":
    sys.exit(main())
