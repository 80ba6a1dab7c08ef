#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Interop suite: PyKCS11 (and ctypes for calls PyKCS11 lacks) checks sessions, login, PIN lockout and objects.
"""Run with plain python3: prints one line per check, exits non-zero on any failure.

Environment: KMS11_MODULE (the module), KMS11_STORE is set here to a fresh temporary store.
KMS11_TEST_BACKEND=softhsm validates the script against SoftHSMv2 instead.
"""

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import PyKCS11
    from PyKCS11 import LowLevel
    from PyKCS11.LowLevel import *  # noqa: F401,F403 (CK* constants)
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("FAIL: PyKCS11 is not installed (package python3-pykcs11)", file=sys.stderr)
    sys.exit(1)

SO_PIN = "12345678"
PIN = "1234"
LABEL = "kms11"
CK_UNAVAILABLE_INFORMATION = (1 << 64) - 1

passed = 0
failed = 0


def ok(desc):
    global passed
    passed += 1
    print("ok - " + desc, flush=True)


def fail(desc):
    global failed
    failed += 1
    print("not ok - " + desc, flush=True)


def check(desc, cond):
    if cond:
        ok(desc)
    else:
        fail(desc)


def ckr(rv):
    return PyKCS11.CKR.get(rv, hex(rv))


def expect_rv(desc, want, fn, *args):
    """Calls fn; passes when it raises PyKCS11Error with the CKR `want` (or returns it, for low-level calls)."""
    try:
        r = fn(*args)
        got = r if isinstance(r, int) else CKR_OK
    except PyKCS11.PyKCS11Error as e:
        got = e.value
    wants = want if isinstance(want, tuple) else (want,)
    if got in wants:
        ok("%s: %s" % (desc, ckr(got)))
    else:
        fail("%s: got %s, want %s" % (desc, ckr(got), " or ".join(ckr(w) for w in wants)))
    return got


def expect_ok(desc, fn, *args):
    try:
        r = fn(*args)
    except PyKCS11.PyKCS11Error as e:
        fail("%s: %s" % (desc, ckr(e.value)))
        return None
    if isinstance(r, int) and not isinstance(r, bool) and fn.__module__ == LowLevel.__name__ and r != CKR_OK:
        fail("%s: %s" % (desc, ckr(r)))
        return None
    ok(desc)
    return r


# ---- ctypes access to the same module instance, for C_CopyObject and exact size queries ----

class CK_ATTRIBUTE(ctypes.Structure):
    _fields_ = [("type", ctypes.c_ulong), ("pValue", ctypes.c_void_p), ("ulValueLen", ctypes.c_ulong)]


class CK_MECHANISM(ctypes.Structure):
    _fields_ = [("mechanism", ctypes.c_ulong), ("pParameter", ctypes.c_void_p),
                ("ulParameterLen", ctypes.c_ulong)]


class CK_FUNCTION_LIST(ctypes.Structure):
    _fields_ = [("version", ctypes.c_ubyte * 2), ("fn", ctypes.c_void_p * 68)]


# Indexes in the 2.40 function list (after the version).
F_GET_ATTRIBUTE_VALUE = 24
F_COPY_OBJECT = 21
F_SIGN_INIT = 42
F_SIGN = 43

CK_RV = ctypes.c_ulong
UL = ctypes.c_ulong


class Raw:
    def __init__(self, path):
        self.dll = ctypes.CDLL(path)
        fl = ctypes.POINTER(CK_FUNCTION_LIST)()
        rv = self.dll.C_GetFunctionList(ctypes.byref(fl))
        if rv != 0:
            raise RuntimeError("C_GetFunctionList: " + ckr(rv))
        self.fl = fl.contents

    def fn(self, idx, *argtypes):
        return ctypes.CFUNCTYPE(CK_RV, *argtypes)(self.fl.fn[idx])

    def copy_object(self, hs, ho, label):
        lab = label.encode()
        buf = ctypes.create_string_buffer(lab, len(lab))
        attrs = (CK_ATTRIBUTE * 1)(CK_ATTRIBUTE(CKA_LABEL, ctypes.cast(buf, ctypes.c_void_p), len(lab)))
        out = UL(0)
        f = self.fn(F_COPY_OBJECT, UL, UL, ctypes.POINTER(CK_ATTRIBUTE), UL, ctypes.POINTER(UL))
        rv = f(hs, ho, attrs, 1, ctypes.byref(out))
        return rv, out.value

    def sign_init(self, hs, mech, hk):
        m = CK_MECHANISM(mech, None, 0)
        return self.fn(F_SIGN_INIT, UL, ctypes.POINTER(CK_MECHANISM), UL)(hs, ctypes.byref(m), hk)

    def sign(self, hs, data, outlen):
        """outlen None: a size query with a NULL buffer. Returns (rv, reported length, bytes)."""
        f = self.fn(F_SIGN, UL, ctypes.c_char_p, UL, ctypes.c_void_p, ctypes.POINTER(UL))
        n = UL(0 if outlen is None else outlen)
        buf = None if outlen is None else ctypes.create_string_buffer(outlen)
        rv = f(hs, data, len(data), buf, ctypes.byref(n))
        return rv, n.value, (buf.raw[:n.value] if buf is not None and rv == CKR_OK else b"")

    def get_attr_len(self, hs, ho, atype):
        a = (CK_ATTRIBUTE * 1)(CK_ATTRIBUTE(atype, None, 0))
        f = self.fn(F_GET_ATTRIBUTE_VALUE, UL, UL, ctypes.POINTER(CK_ATTRIBUTE), UL)
        rv = f(hs, ho, a, 1)
        return rv, a[0].ulValueLen


def obj_handle(value):
    h = LowLevel.CK_OBJECT_HANDLE()
    h.assign(value)
    return h


def handle(session):
    return session.session.value()


def find_slot(lib):
    for s in lib.getSlotList(tokenPresent=True):
        if lib.getTokenInfo(s).label.strip() == LABEL:
            return s
    return lib.getSlotList(tokenPresent=True)[0]


def token_flags(lib, slot):
    return lib.getTokenInfo(slot).flags


# ---- the child process that creates a token object ----

def child_create(module, label):
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slot = find_slot(lib)
    s = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    s.login(PIN)
    s.generateKeyPair(
        [(CKA_TOKEN, True), (CKA_LABEL, label), (CKA_VERIFY, True),
         (CKA_EC_PARAMS, bytes.fromhex("06082a8648ce3d030107"))],
        [(CKA_TOKEN, True), (CKA_PRIVATE, True), (CKA_SENSITIVE, True), (CKA_LABEL, label), (CKA_SIGN, True)],
        mecha=PyKCS11.Mechanism(CKM_EC_KEY_PAIR_GEN, None))
    s.logout()
    s.closeSession()
    return 0


def child_late(module):
    """A process that loads the module before any store exists: it makes none, shows an uninitialised token, and
    once another process has initialised the token (the parent says so on stdin) it finds and uses it."""
    store = os.environ["KMS11_STORE"]
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slot = find_slot(lib)
    print("uninitialised %d" % (0 if token_flags(lib, slot) & CKF_TOKEN_INITIALIZED else 1), flush=True)
    s = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    print("found %d" % len(s.findObjects([(CKA_CLASS, CKO_PRIVATE_KEY)])), flush=True)
    for what, call in (("login", lambda: s.login(PIN)), ("so-login", lambda: s.login(SO_PIN, CKU_SO)),
                       ("attribute", lambda: s.getAttributeValue(obj_handle(12345), [CKA_LABEL]))):
        try:
            call()
            print("%s CKR_OK" % what, flush=True)
        except PyKCS11.PyKCS11Error as e:
            print("%s %s" % (what, ckr(e.value)), flush=True)
    print("nostore %d" % (0 if os.path.exists(store) else 1), flush=True)
    s.closeSession()
    sys.stdin.readline()
    slot = find_slot(lib)
    print("initialised %d" % (1 if token_flags(lib, slot) & CKF_TOKEN_INITIALIZED else 0), flush=True)
    s = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    s.login(PIN)
    print("found %d" % len(s.findObjects([(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_LABEL, "made-elsewhere")])), flush=True)
    s.logout()
    s.closeSession()
    return 0


def store_made_late(module, tmp):
    """The store is made by the first token initialisation, not by C_Initialize; a process started before it
    exists sees it once another process has made it."""
    env = dict(os.environ, KMS11_STORE=os.path.join(tmp, "late", "store"))
    a = subprocess.Popen([sys.executable, __file__, "--child-late", module], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    got = [a.stdout.readline().split() for _ in range(6)]
    check("a process started before the store exists sees an uninitialised token (%s)" % got[0], got[0] == ["uninitialised", "1"])
    check("... finds no token object (%s)" % got[1], got[1] == ["found", "0"])
    check("... C_Login answers CKR_USER_PIN_NOT_INITIALIZED, as with a store (%s)" % got[2],
          got[2] == ["login", "CKR_USER_PIN_NOT_INITIALIZED"])
    check("... for the SO too (%s)" % got[3], got[3] == ["so-login", "CKR_USER_PIN_NOT_INITIALIZED"])
    check("... an object handle is CKR_OBJECT_HANDLE_INVALID (%s)" % got[4], got[4] == ["attribute", "CKR_OBJECT_HANDLE_INVALID"])
    check("... and none of it makes a store directory (%s)" % got[5], got[5] == ["nostore", "1"])
    b = subprocess.run([sys.executable, __file__, "--child-init", module], env=env, capture_output=True, text=True)
    check("another process initialises the token and makes a key there (%s)" % b.stderr.strip()[-200:], b.returncode == 0)
    out, _ = a.communicate("go\n", timeout=60)
    rest = [line.split() for line in out.splitlines()]
    check("the first process then sees the token initialised (%s)" % rest, rest[:1] == [["initialised", "1"]])
    check("... logs in and finds the other process's key (%s)" % rest, rest[1:2] == [["found", "1"]] and a.returncode == 0)


def child_init(module):
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slot = find_slot(lib)
    lib.initToken(slot, SO_PIN, LABEL)
    slot = find_slot(lib)
    so = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    so.login(SO_PIN, CKU_SO)
    so.initPin(PIN)
    so.logout()
    so.closeSession()
    return child_create(module, "made-elsewhere")


def softhsm_backend(tmp):
    """KMS11_TEST_ENGINE=pkcs11: the kms11 token keeps its keys in a SoftHSMv2 token made here (the pkcs11 engine)."""
    import subprocess
    os.mkdir(os.path.join(tmp, "backend"))
    with open(os.path.join(tmp, "backend.conf"), "w") as f:
        f.write("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n" % os.path.join(tmp, "backend"))
    os.environ["SOFTHSM2_CONF"] = os.path.join(tmp, "backend.conf")
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "kms11-backend", "--pin", PIN,
                    "--so-pin", SO_PIN], check=True, capture_output=True)
    with open(os.path.join(tmp, "kms11.conf"), "w") as f:
        f.write("[token:%s]\nengine = pkcs11\nbackend-token = kms11-backend\n" % LABEL)
    os.environ["KMS11_CONF"] = os.path.join(tmp, "kms11.conf")


def main():
    tmp = tempfile.mkdtemp(prefix="kms11-pykcs11.")
    os.environ["KMS11_STORE"] = os.path.join(tmp, "store")
    module = os.environ.get("KMS11_MODULE", "")
    if os.environ.get("KMS11_TEST_ENGINE") == "pkcs11":
        softhsm_backend(tmp)
    if os.environ.get("KMS11_TEST_BACKEND") == "softhsm":
        module = "/usr/lib/softhsm/libsofthsm2.so"
        os.mkdir(os.path.join(tmp, "tokens"))
        with open(os.path.join(tmp, "softhsm2.conf"), "w") as f:
            f.write("directories.tokendir = %s\n" % os.path.join(tmp, "tokens"))
        os.environ["SOFTHSM2_CONF"] = os.path.join(tmp, "softhsm2.conf")
    try:
        if not module or not os.path.exists(module):
            print("FAIL: KMS11_MODULE does not name a module: %r" % module, file=sys.stderr)
            return 1
        store_absent = not os.path.exists(os.environ["KMS11_STORE"])
        run(module)
        if os.environ.get("KMS11_TEST_BACKEND") != "softhsm":
            check("the store did not exist before the suite's C_InitToken made it",
                  store_absent and os.path.exists(os.path.join(os.environ["KMS11_STORE"], "data.mdb")))
            store_made_late(module, tmp)
    except Exception as e:  # a crash of the suite is a failure, with its reason
        import traceback
        traceback.print_exc()
        fail("suite aborted: %r" % (e,))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("# checks: %d ok, %d not ok" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


def run(module):
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    raw = Raw(module)
    slot = find_slot(lib)

    # Token init through PyKCS11 (C_InitToken, SO login, C_InitPIN).
    expect_ok("C_InitToken", lib.initToken, slot, SO_PIN, LABEL)
    slot = find_slot(lib)
    so = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    expect_ok("SO login after C_InitToken", so.login, SO_PIN, CKU_SO)
    check("SO session state is CKS_RW_SO_FUNCTIONS", so.getSessionInfo().state == CKS_RW_SO_FUNCTIONS)
    expect_ok("C_InitPIN", so.initPin, PIN)
    so.logout()
    so.closeSession()
    check("token flags have CKF_USER_PIN_INITIALIZED", token_flags(lib, slot) & CKF_USER_PIN_INITIALIZED)
    check("token flags have CKF_TOKEN_INITIALIZED", token_flags(lib, slot) & CKF_TOKEN_INITIALIZED)

    # Session and login states.
    ro = lib.openSession(slot, CKF_SERIAL_SESSION)
    rw = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    check("RO session: CKS_RO_PUBLIC_SESSION", ro.getSessionInfo().state == CKS_RO_PUBLIC_SESSION)
    check("RW session: CKS_RW_PUBLIC_SESSION", rw.getSessionInfo().state == CKS_RW_PUBLIC_SESSION)
    expect_rv("SO login with an RO session open", CKR_SESSION_READ_ONLY_EXISTS, rw.login, SO_PIN, CKU_SO)
    expect_rv("user login with a wrong PIN", CKR_PIN_INCORRECT, rw.login, "9999")
    check("one wrong PIN sets CKF_USER_PIN_COUNT_LOW", token_flags(lib, slot) & CKF_USER_PIN_COUNT_LOW)
    expect_ok("user login", rw.login, PIN)
    check("a good login clears CKF_USER_PIN_COUNT_LOW", not token_flags(lib, slot) & CKF_USER_PIN_COUNT_LOW)
    check("RO session after login: CKS_RO_USER_FUNCTIONS", ro.getSessionInfo().state == CKS_RO_USER_FUNCTIONS)
    check("RW session after login: CKS_RW_USER_FUNCTIONS", rw.getSessionInfo().state == CKS_RW_USER_FUNCTIONS)
    expect_rv("second user login", CKR_USER_ALREADY_LOGGED_IN, ro.login, PIN)
    expect_rv("SO login while the user is logged in", (CKR_USER_ANOTHER_ALREADY_LOGGED_IN, CKR_SESSION_READ_ONLY_EXISTS),
              rw.login, SO_PIN, CKU_SO)
    ro2 = lib.openSession(slot, CKF_SERIAL_SESSION)
    check("a session opened after login is CKS_RO_USER_FUNCTIONS", ro2.getSessionInfo().state == CKS_RO_USER_FUNCTIONS)
    ro2.closeSession()

    # Bad handles.
    bad = LowLevel.CK_SESSION_HANDLE()
    bad.assign(0x7fff1234)
    info = LowLevel.CK_SESSION_INFO()
    expect_rv("C_GetSessionInfo on a bogus handle", CKR_SESSION_HANDLE_INVALID, lib.lib.C_GetSessionInfo, bad, info)
    tmp_s = lib.openSession(slot, CKF_SERIAL_SESSION)
    closed = tmp_s.session
    tmp_s.closeSession()
    expect_rv("C_GetSessionInfo on a closed session", CKR_SESSION_HANDLE_INVALID, lib.lib.C_GetSessionInfo, closed, info)
    expect_rv("C_GetAttributeValue on a bogus object handle", CKR_OBJECT_HANDLE_INVALID,
              rw.getAttributeValue, obj_handle(0x7ffe4321), [CKA_LABEL])

    # Keys.
    rsa_pub, rsa_priv = rw.generateKeyPair(
        [(CKA_TOKEN, True), (CKA_LABEL, "py-rsa"), (CKA_ID, b"\x21"), (CKA_MODULUS_BITS, 2048),
         (CKA_PUBLIC_EXPONENT, (1, 0, 1)), (CKA_VERIFY, True), (CKA_ENCRYPT, True)],
        [(CKA_TOKEN, True), (CKA_LABEL, "py-rsa"), (CKA_ID, b"\x21"), (CKA_PRIVATE, True), (CKA_SENSITIVE, True),
         (CKA_SIGN, True), (CKA_DECRYPT, True)],
        mecha=PyKCS11.MechanismRSAGENERATEKEYPAIR)
    ok("C_GenerateKeyPair RSA-2048")

    # Size query convention (ctypes: exact buffers).
    hs = handle(rw)
    data = b"kms11 size query " * 10
    rv = raw.sign_init(hs, CKM_SHA256_RSA_PKCS, rsa_priv.value())
    check("C_SignInit SHA256-RSA-PKCS: %s" % ckr(rv), rv == CKR_OK)
    rv, n, _ = raw.sign(hs, data, None)
    check("C_Sign with a NULL buffer: CKR_OK and the length 256 (%s, %d)" % (ckr(rv), n), rv == CKR_OK and n == 256)
    rv, n, _ = raw.sign(hs, data, 10)
    check("C_Sign with a 10-byte buffer: CKR_BUFFER_TOO_SMALL and length 256 (%s, %d)" % (ckr(rv), n),
          rv == CKR_BUFFER_TOO_SMALL and n == 256)
    rv, n, sig_raw = raw.sign(hs, data, 512)
    check("C_Sign with a large buffer: CKR_OK and 256 bytes (%s, %d)" % (ckr(rv), n), rv == CKR_OK and n == 256)
    rv, n, _ = raw.sign(hs, data, 512)
    check("C_Sign after the operation ended: CKR_OPERATION_NOT_INITIALIZED (%s)" % ckr(rv),
          rv == CKR_OPERATION_NOT_INITIALIZED)
    rv, n = raw.get_attr_len(hs, rsa_pub.value(), CKA_MODULUS)
    check("C_GetAttributeValue size query of CKA_MODULUS: 256 (%s, %d)" % (ckr(rv), n), rv == CKR_OK and n == 256)

    # Sensitive attributes.
    rv, n = raw.get_attr_len(hs, rsa_priv.value(), CKA_PRIVATE_EXPONENT)
    check("CKA_PRIVATE_EXPONENT of a sensitive key: CKR_ATTRIBUTE_SENSITIVE (%s)" % ckr(rv),
          rv == CKR_ATTRIBUTE_SENSITIVE)
    check("... and its length is CK_UNAVAILABLE_INFORMATION", n == CK_UNAVAILABLE_INFORMATION)
    rv, n = raw.get_attr_len(hs, rsa_priv.value(), CKA_PRIME_1)
    check("CKA_PRIME_1 of a sensitive key: CKR_ATTRIBUTE_SENSITIVE (%s)" % ckr(rv), rv == CKR_ATTRIBUTE_SENSITIVE)

    # One-shot signature = the PyKCS11 one = the multi-part one (PKCS#1 v1.5 is deterministic).
    mech = PyKCS11.Mechanism(CKM_SHA256_RSA_PKCS, None)
    one = bytes(rw.sign(rsa_priv, data, mech))
    check("PyKCS11 sign equals the ctypes C_Sign", one == sig_raw)
    expect_ok("multi-part C_SignInit", lib.lib.C_SignInit, rw.session, mech.to_native(), rsa_priv)
    for i in range(0, len(data), 7):
        chunk = LowLevel.ckbytelist(data[i:i + 7])
        rv = lib.lib.C_SignUpdate(rw.session, chunk)
        if rv != CKR_OK:
            break
    check("C_SignUpdate in 7-byte chunks: %s" % ckr(rv), rv == CKR_OK)
    out = LowLevel.ckbytelist()
    rv = lib.lib.C_SignFinal(rw.session, out)  # an empty list: the wrapper makes a size query
    if rv == CKR_OK:
        rv = lib.lib.C_SignFinal(rw.session, out)
    check("C_SignFinal: %s" % ckr(rv), rv == CKR_OK)
    check("multi-part signature equals the one-shot one", bytes(out) == one)
    check("the signature verifies", rw.verify(rsa_pub, data, one, mech))

    # C_SetAttributeValue.
    expect_ok("C_SetAttributeValue CKA_LABEL", rw.setAttributeValue, rsa_pub, [(CKA_LABEL, "py-rsa-renamed")])
    found = rw.findObjects([(CKA_LABEL, "py-rsa-renamed")])
    check("the new label finds the key (%d)" % len(found), len(found) == 1 and found[0].value() == rsa_pub.value())
    check("the old label finds only the private key",
          len(rw.findObjects([(CKA_LABEL, "py-rsa"), (CKA_CLASS, CKO_PUBLIC_KEY)])) == 0)
    expect_rv("CKA_SENSITIVE true -> false", CKR_ATTRIBUTE_READ_ONLY,
              rw.setAttributeValue, rsa_priv, [(CKA_SENSITIVE, False)])
    check("CKA_SENSITIVE is still true", rw.getAttributeValue(rsa_priv, [CKA_SENSITIVE])[0] is True)
    ec_pub, ec_priv = rw.generateKeyPair(
        [(CKA_TOKEN, False), (CKA_LABEL, "py-ec"), (CKA_EC_PARAMS, bytes.fromhex("06082a8648ce3d030107")),
         (CKA_VERIFY, True)],
        [(CKA_TOKEN, False), (CKA_LABEL, "py-ec"), (CKA_PRIVATE, True), (CKA_SENSITIVE, False),
         (CKA_EXTRACTABLE, True), (CKA_SIGN, True)],
        mecha=PyKCS11.Mechanism(CKM_EC_KEY_PAIR_GEN, None))
    ok("C_GenerateKeyPair EC P-256 (session, not sensitive)")
    expect_ok("CKA_SENSITIVE false -> true", rw.setAttributeValue, ec_priv, [(CKA_SENSITIVE, True)])
    rv, n = raw.get_attr_len(hs, ec_priv.value(), CKA_VALUE)
    check("then CKA_VALUE is sensitive (%s)" % ckr(rv), rv == CKR_ATTRIBUTE_SENSITIVE)
    check("and CKA_ALWAYS_SENSITIVE stays false", rw.getAttributeValue(ec_priv, [CKA_ALWAYS_SENSITIVE])[0] is False)

    # C_CopyObject (PyKCS11 has no wrapper for it).
    rv, copy = raw.copy_object(hs, rsa_pub.value(), "py-rsa-copy")
    check("C_CopyObject of the public key: %s" % ckr(rv), rv == CKR_OK and copy != 0)
    if rv == CKR_OK:
        copy_h = obj_handle(copy)
        a = rw.getAttributeValue(rsa_pub, [CKA_MODULUS])[0]
        b = rw.getAttributeValue(copy_h, [CKA_MODULUS, CKA_LABEL])
        check("the copy has the same modulus and the new label", bytes(a) == bytes(b[0]) and b[1] == "py-rsa-copy")
        check("the copy is a different object", copy != rsa_pub.value())
        check("the copy is found by its label", len(rw.findObjects([(CKA_LABEL, "py-rsa-copy")])) == 1)
        expect_ok("C_DestroyObject of the copy", rw.destroyObject, copy_h)
        check("the destroyed copy is gone", len(rw.findObjects([(CKA_LABEL, "py-rsa-copy")])) == 0)

    # A token object created by another process is seen here in a new session.
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child-create", module, "from-child"],
                       capture_output=True, text=True, timeout=60)
    check("the child process created a key pair (exit %d) %s" % (r.returncode, r.stderr.strip()[-300:]),
          r.returncode == 0)
    s3 = lib.openSession(slot, CKF_SERIAL_SESSION)
    objs = s3.findObjects([(CKA_LABEL, "from-child")])
    check("a new session finds both objects of the child's key pair (%d)" % len(objs), len(objs) == 2)
    pubs = s3.findObjects([(CKA_LABEL, "from-child"), (CKA_CLASS, CKO_PUBLIC_KEY)])
    privs = s3.findObjects([(CKA_LABEL, "from-child"), (CKA_CLASS, CKO_PRIVATE_KEY)])
    if len(pubs) == 1 and len(privs) == 1:
        m = PyKCS11.Mechanism(CKM_ECDSA, None)
        digest = hashlib.sha256(b"from the parent").digest()
        sig = s3.sign(privs[0], digest, m)
        check("the child's key signs here (%d-byte raw r||s)" % len(sig), len(sig) == 64)
        check("and verifies", s3.verify(pubs[0], digest, sig, m))
    else:
        fail("the child's key pair is one public and one private key")
    s3.closeSession()

    # PIN lockout: 10 wrong PINs in a row lock the user PIN; the SO unlocks it with C_InitPIN.
    rw.logout()
    check("after logout the RW session is CKS_RW_PUBLIC_SESSION", rw.getSessionInfo().state == CKS_RW_PUBLIC_SESSION)
    seen_low = seen_final = False
    results = []
    for i in range(10):
        try:
            rw.login("0000")
            results.append(CKR_OK)
        except PyKCS11.PyKCS11Error as e:
            results.append(e.value)
        f = token_flags(lib, slot)
        seen_low = seen_low or bool(f & CKF_USER_PIN_COUNT_LOW)
        if i == 8:
            seen_final = bool(f & CKF_USER_PIN_FINAL_TRY)
    check("wrong PINs 1-9 give CKR_PIN_INCORRECT (%s)" % ",".join(ckr(x) for x in results[:9]),
          all(x == CKR_PIN_INCORRECT for x in results[:9]))
    check("wrong PIN 10 gives CKR_PIN_INCORRECT or CKR_PIN_LOCKED (%s)" % ckr(results[9]),
          results[9] in (CKR_PIN_INCORRECT, CKR_PIN_LOCKED))
    check("CKF_USER_PIN_COUNT_LOW seen along the way", seen_low)
    check("CKF_USER_PIN_FINAL_TRY after 9 wrong PINs", seen_final)
    check("token flags have CKF_USER_PIN_LOCKED", token_flags(lib, slot) & CKF_USER_PIN_LOCKED)
    expect_rv("the right PIN once locked", CKR_PIN_LOCKED, rw.login, PIN)
    ro.closeSession()
    expect_ok("SO login to unlock", rw.login, SO_PIN, CKU_SO)
    expect_ok("SO C_InitPIN resets the user PIN", rw.initPin, PIN)
    rw.logout()
    f = token_flags(lib, slot)
    check("CKF_USER_PIN_LOCKED cleared", not f & CKF_USER_PIN_LOCKED)
    check("CKF_USER_PIN_FINAL_TRY and COUNT_LOW cleared", not f & (CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_COUNT_LOW))
    expect_ok("user login after the unlock", rw.login, PIN)
    keys = rw.findObjects([(CKA_LABEL, "py-rsa"), (CKA_CLASS, CKO_PRIVATE_KEY)])
    check("the key still signs after the unlock",
          len(keys) == 1 and len(rw.sign(keys[0], data, mech)) == 256)
    rw.logout()
    rw.closeSession()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child-create":
        sys.exit(child_create(sys.argv[2], sys.argv[3]))
    if len(sys.argv) == 3 and sys.argv[1] == "--child-late":
        sys.exit(child_late(sys.argv[2]))
    if len(sys.argv) == 3 and sys.argv[1] == "--child-init":
        sys.exit(child_init(sys.argv[2]))
    sys.exit(main())
