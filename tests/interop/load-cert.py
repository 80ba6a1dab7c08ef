#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Loads a certificate by pkcs11: URI through libp11's OpenSSL engine (its LOAD_CERT_CTRL command) and writes it as PEM.
"""Usage: load-cert.py URI OUT.pem  (OPENSSL_CONF must configure the pkcs11 engine with the module)."""

import ctypes
import ctypes.util
import sys


class LoadCertParams(ctypes.Structure):
    _fields_ = [("cert_id", ctypes.c_char_p), ("cert", ctypes.c_void_p)]


def main():
    uri, out = sys.argv[1], sys.argv[2]
    crypto = ctypes.CDLL(ctypes.util.find_library("crypto") or "libcrypto.so.3")
    for name in ("ENGINE_by_id", "BIO_new_file"):
        getattr(crypto, name).restype = ctypes.c_void_p
    crypto.ENGINE_init.argtypes = [ctypes.c_void_p]
    crypto.ENGINE_ctrl_cmd.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_long, ctypes.c_void_p,
                                       ctypes.c_void_p, ctypes.c_int]
    crypto.PEM_write_bio_X509.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    crypto.BIO_free.argtypes = [ctypes.c_void_p]
    crypto.OPENSSL_init_crypto(ctypes.c_uint64(0x40), None)  # OPENSSL_INIT_LOAD_CONFIG
    engine = crypto.ENGINE_by_id(b"pkcs11")
    if not engine or crypto.ENGINE_init(engine) != 1:
        print("load-cert: the pkcs11 engine does not start", file=sys.stderr)
        return 1
    params = LoadCertParams(uri.encode(), None)
    if crypto.ENGINE_ctrl_cmd(engine, b"LOAD_CERT_CTRL", 0, ctypes.byref(params), None, 1) != 1 or not params.cert:
        print("load-cert: LOAD_CERT_CTRL found no certificate for %s" % uri, file=sys.stderr)
        return 1
    bio = crypto.BIO_new_file(out.encode(), b"w")
    ok = bio and crypto.PEM_write_bio_X509(bio, params.cert) == 1
    crypto.BIO_free(bio)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
