#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Interop suite: PyKCS11 with AES-GCM, HMAC, digests, wrap/unwrap (AES-KW, KWP, RSA-OAEP), the wrap rules, ECDH
# derivation and certificate attributes; Python's hashlib/hmac and the cryptography package are the reference.
"""Run with /usr/bin/python3 (Debian's python3-pykcs11 and python3-cryptography); exits non-zero on any failure."""

import hashlib
import hmac
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import PyKCS11
    from PyKCS11 import (CKA_CLASS, CKA_KEY_TYPE, CKA_VALUE, CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY,
                         CKA_WRAP, CKA_UNWRAP, CKA_EXTRACTABLE, CKA_SENSITIVE, CKA_DERIVE, CKA_TOKEN,
                         CKA_EC_PARAMS, CKA_EC_POINT, CKA_TRUSTED, CKA_WRAP_WITH_TRUSTED, CKA_MODULUS,
                         CKA_PUBLIC_EXPONENT, CKA_MODULUS_BITS, CKA_CERTIFICATE_TYPE, CKA_SUBJECT, CKA_ISSUER,
                         CKA_SERIAL_NUMBER, CKA_START_DATE, CKA_END_DATE, CKA_PUBLIC_KEY_INFO, CKA_ID, CKA_LABEL,
                         CKO_SECRET_KEY, CKO_CERTIFICATE, CKK_AES, CKK_GENERIC_SECRET, CKC_X_509,
                         CKM_SHA256_HMAC, CKM_SHA384_HMAC, CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384,
                         CKM_SHA512, CKM_AES_KEY_WRAP, CKM_EC_KEY_PAIR_GEN, CKM_RSA_PKCS_KEY_PAIR_GEN,
                         CKM_AES_KEY_GEN, CKR_ENCRYPTED_DATA_INVALID, CKR_KEY_UNEXTRACTABLE,
                         CKR_KEY_FUNCTION_NOT_PERMITTED, CKR_KEY_NOT_WRAPPABLE, CKR_ATTRIBUTE_READ_ONLY,
                         CKR_WRAPPED_KEY_INVALID, CKF_SERIAL_SESSION, CKF_RW_SESSION, CKU_SO, CKU_USER,
                         CKM_SHA_1_HMAC, CKG_MGF1_SHA256, CKM_ECDSA_SHA256)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, x25519
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap, aes_key_wrap_with_padding
except ImportError as e:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("FAIL: %s (packages python3-pykcs11 and python3-cryptography)" % e, file=sys.stderr)
    sys.exit(1)

CKM_SHA3_256, CKM_SHA3_384, CKM_SHA3_512 = 0x2B0, 0x2C0, 0x2D0
CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP_KWP = 0x210A, 0x210B
CKM_EC_MONTGOMERY_KEY_PAIR_GEN = 0x1056
SO_PIN, PIN = "12345678", "1234"
passed = failed = 0


def check(desc, cond):
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + desc, flush=True)
    else:
        failed += 1
        print("not ok - " + desc, flush=True)


def rv_of(fn, *args):
    try:
        fn(*args)
        return PyKCS11.CKR_OK
    except PyKCS11.PyKCS11Error as e:
        return e.value


def expect(desc, want, fn, *args):
    got = rv_of(fn, *args)
    check("%s: %s" % (desc, PyKCS11.CKR.get(got, hex(got))), got == want)


def secret(s, kt, value, **flags):
    t = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, kt), (CKA_VALUE, value)]
    t += [(getattr(PyKCS11, "CKA_" + k.upper()), v) for k, v in flags.items()]
    return s.createObject(t)


def value(s, h):
    return bytes(s.getAttributeValue(h, [CKA_VALUE])[0])


def main():
    tmp = tempfile.mkdtemp(prefix="kms11-pyk-")
    os.environ["KMS11_STORE"] = os.path.join(tmp, "store")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("# checks: %d ok, %d not ok" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


def run(tmp):
    lib = PyKCS11.PyKCS11Lib()
    lib.load(os.environ["KMS11_MODULE"])
    slot = lib.getSlotList()[0]
    lib.initToken(slot, SO_PIN, "kms11")
    s = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    s.login(SO_PIN, CKU_SO)
    s.initPin(PIN)
    s.logout()
    s.login(PIN)

    # Digests against hashlib.
    data = os.urandom(1000)
    for mech, name in ((CKM_SHA_1, "sha1"), (CKM_SHA224, "sha224"), (CKM_SHA256, "sha256"), (CKM_SHA384, "sha384"),
                       (CKM_SHA512, "sha512"), (CKM_SHA3_256, "sha3_256"), (CKM_SHA3_384, "sha3_384"),
                       (CKM_SHA3_512, "sha3_512")):
        got = bytes(s.digest(data, PyKCS11.Mechanism(mech)))
        check("digest %s equals hashlib" % name, got == hashlib.new(name, data).digest())

    # HMAC against Python's hmac.
    hkey = os.urandom(40)
    hk = secret(s, CKK_GENERIC_SECRET, hkey, sign=True, verify=True)
    for mech, name in ((CKM_SHA_1_HMAC, "sha1"), (CKM_SHA256_HMAC, "sha256"), (CKM_SHA384_HMAC, "sha384")):
        mac = bytes(s.sign(hk, data, PyKCS11.Mechanism(mech)))
        check("HMAC-%s equals hmac" % name, mac == hmac.new(hkey, data, name).digest())
        check("HMAC-%s verifies" % name, s.verify(hk, data, mac, PyKCS11.Mechanism(mech)))
        bad = bytes([mac[0] ^ 1]) + mac[1:]
        check("HMAC-%s with a wrong MAC does not verify" % name,
              not s.verify(hk, data, bad, PyKCS11.Mechanism(mech)))

    # AES-GCM with AAD against cryptography's AESGCM; a tampered tag fails.
    akey = os.urandom(32)
    ak = secret(s, CKK_AES, akey, encrypt=True, decrypt=True, wrap=True, unwrap=True)
    iv, aad, pt = os.urandom(12), b"header data", os.urandom(333)
    m = PyKCS11.AES_GCM_Mechanism(iv, aad, 128)
    ct = bytes(s.encrypt(ak, pt, m))
    check("AES-256-GCM ciphertext and tag equal cryptography's", ct == AESGCM(akey).encrypt(iv, pt, aad))
    check("AES-256-GCM decrypts", bytes(s.decrypt(ak, ct, m)) == pt)
    expect("AES-GCM with a tampered tag", CKR_ENCRYPTED_DATA_INVALID, s.decrypt, ak, ct[:-1] + bytes([ct[-1] ^ 1]), m)
    expect("AES-GCM with tampered AAD", CKR_ENCRYPTED_DATA_INVALID, s.decrypt, ak, ct,
           PyKCS11.AES_GCM_Mechanism(iv, b"header datA", 128))

    # Wrap and unwrap: AES-KW and KWP against cryptography, RSA-OAEP with a key made in the module.
    target = os.urandom(24)
    tk = secret(s, CKK_AES, target, extractable=True, encrypt=True)
    w = bytes(s.wrapKey(ak, tk, PyKCS11.Mechanism(CKM_AES_KEY_WRAP)))
    check("AES-KW wrapped key equals RFC 3394 (cryptography)", w == aes_key_wrap(akey, target))
    for mech, name in ((CKM_AES_KEY_WRAP_KWP, "KWP"), (CKM_AES_KEY_WRAP_PAD, "KEY_WRAP_PAD")):
        w2 = bytes(s.wrapKey(ak, tk, PyKCS11.Mechanism(mech)))
        check("AES-%s wrapped key equals RFC 5649 (cryptography)" % name, w2 == aes_key_wrap_with_padding(akey, target))
    tmpl = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_SENSITIVE, False), (CKA_EXTRACTABLE, True)]
    u = s.unwrapKey(ak, w, tmpl, PyKCS11.Mechanism(CKM_AES_KEY_WRAP))
    check("AES-KW unwrapped key has the original value", value(s, u) == target)
    expect("AES-KW unwrap of a corrupted blob", CKR_WRAPPED_KEY_INVALID, s.unwrapKey, ak,
           w[:-1] + bytes([w[-1] ^ 1]), tmpl, PyKCS11.Mechanism(CKM_AES_KEY_WRAP))
    pub, priv = s.generateKeyPair([(CKA_MODULUS_BITS, 2048), (CKA_WRAP, True), (CKA_ENCRYPT, True)],
                                  [(CKA_UNWRAP, True), (CKA_DECRYPT, True)],
                                  mecha=PyKCS11.Mechanism(CKM_RSA_PKCS_KEY_PAIR_GEN))
    n, e = (int.from_bytes(bytes(v), "big") for v in s.getAttributeValue(pub, [CKA_MODULUS, CKA_PUBLIC_EXPONENT]))
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers
    rsapub = RSAPublicNumbers(e, n).public_key()
    oaep = PyKCS11.RSAOAEPMechanism(CKM_SHA256, CKG_MGF1_SHA256)
    blob = rsapub.encrypt(target, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    u2 = s.unwrapKey(priv, blob, tmpl, oaep)
    check("RSA-OAEP unwrap of cryptography's OAEP gives the key", value(s, u2) == target)
    w3 = bytes(s.wrapKey(pub, tk, oaep))
    u3 = s.unwrapKey(priv, w3, tmpl, oaep)
    check("RSA-OAEP wrap then unwrap gives the key", value(s, u3) == target)

    # The wrap rules.
    stuck = secret(s, CKK_AES, os.urandom(16))
    expect("wrapping a non-extractable key", CKR_KEY_UNEXTRACTABLE, s.wrapKey, ak, stuck,
           PyKCS11.Mechanism(CKM_AES_KEY_WRAP))
    nowrap = secret(s, CKK_AES, os.urandom(16))
    expect("wrapping with a key without CKA_WRAP", CKR_KEY_FUNCTION_NOT_PERMITTED, s.wrapKey, nowrap, tk,
           PyKCS11.Mechanism(CKM_AES_KEY_WRAP))
    guarded = secret(s, CKK_AES, os.urandom(16), extractable=True, wrap_with_trusted=True)
    expect("CKA_WRAP_WITH_TRUSTED key under an untrusted wrapping key", CKR_KEY_NOT_WRAPPABLE, s.wrapKey, ak, guarded,
           PyKCS11.Mechanism(CKM_AES_KEY_WRAP))
    expect("a user setting CKA_TRUSTED", CKR_ATTRIBUTE_READ_ONLY, s.setAttributeValue, ak, [(CKA_TRUSTED, True)])

    # ECDH against a peer made by cryptography: P-256 and X25519.
    epub, epriv = s.generateKeyPair([(CKA_EC_PARAMS, bytes.fromhex("06082a8648ce3d030107"))], [(CKA_DERIVE, True)],
                                    mecha=PyKCS11.Mechanism(CKM_EC_KEY_PAIR_GEN))
    point = bytes(s.getAttributeValue(epub, [CKA_EC_POINT])[0])[2:]
    peer = ec.generate_private_key(ec.SECP256R1())
    z = peer.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point))
    dt = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_GENERIC_SECRET), (CKA_SENSITIVE, False),
          (CKA_EXTRACTABLE, True)]
    peer_pt = peer.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    d = s.deriveKey(epriv, dt, PyKCS11.ECDH1_DERIVE_Mechanism(peer_pt))
    check("ECDH P-256 shared secret equals cryptography's", value(s, d) == z)
    xpub, xpriv = s.generateKeyPair([(CKA_EC_PARAMS, bytes.fromhex("06032b656e"))], [(CKA_DERIVE, True)],
                                    mecha=PyKCS11.Mechanism(CKM_EC_MONTGOMERY_KEY_PAIR_GEN))
    xpoint = bytes(s.getAttributeValue(xpub, [CKA_EC_POINT])[0])[2:]
    xpeer = x25519.X25519PrivateKey.generate()
    xz = xpeer.exchange(x25519.X25519PublicKey.from_public_bytes(xpoint))
    raw = xpeer.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    d2 = s.deriveKey(xpriv, dt, PyKCS11.ECDH1_DERIVE_Mechanism(raw))
    check("ECDH X25519 shared secret equals cryptography's", value(s, d2) == xz)

    # A certificate: the attributes equal what the DER says.
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes",
                    "-keyout", os.path.join(tmp, "k.pem"), "-out", os.path.join(tmp, "c.der"), "-outform", "DER",
                    "-subj", "/CN=pykcs11/O=kms11", "-days", "30"], check=True, capture_output=True)
    der = open(os.path.join(tmp, "c.der"), "rb").read()
    cert = x509.load_der_x509_certificate(der)
    c = s.createObject([(CKA_CLASS, CKO_CERTIFICATE), (CKA_CERTIFICATE_TYPE, CKC_X_509), (CKA_VALUE, der),
                        (CKA_TOKEN, True), (CKA_LABEL, "pyk-cert")])
    a = [bytes(v) if not isinstance(v, str) else v.encode() for v in
         s.getAttributeValue(c, [CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER, CKA_START_DATE, CKA_END_DATE,
                                 CKA_PUBLIC_KEY_INFO, CKA_ID])]
    check("CKA_SUBJECT equals the certificate's subject", a[0] == cert.subject.public_bytes())
    check("CKA_ISSUER equals the certificate's issuer", a[1] == cert.issuer.public_bytes())
    sn = cert.serial_number.to_bytes((cert.serial_number.bit_length() + 8) // 8, "big")
    check("CKA_SERIAL_NUMBER is the DER INTEGER of the serial", a[2] == bytes([2, len(sn)]) + sn)
    check("CKA_START_DATE is notBefore", a[3] == cert.not_valid_before.strftime("%Y%m%d").encode())
    check("CKA_END_DATE is notAfter", a[4] == cert.not_valid_after.strftime("%Y%m%d").encode())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    check("CKA_PUBLIC_KEY_INFO equals the certificate's SPKI", a[5] == spki)
    check("CKA_ID is the SHA-256 of the SPKI", a[6] == hashlib.sha256(spki).digest())


if __name__ == "__main__":
    sys.exit(main())
