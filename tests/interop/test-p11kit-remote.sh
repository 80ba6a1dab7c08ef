#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# p11-kit remoting: `p11-kit server` exports a kms11 token on a unix socket and p11-kit-client.so uses it. What
# p11-kit 0.24's RPC carries works through it: listing, login, RSA and EC key pair generation, RSA PKCS#1 and raw
# ECDSA signatures (verified with python3-cryptography against the public keys read through the RPC), RSA-OAEP
# encryption and decryption, AES-ECB, digests and random. What it cannot carry is refused by the client
# with CKR_MECHANISM_INVALID, as the README's Clients section lists (the mechanisms with parameters it has no
# encoding for, and those it does not know: RSA-PSS, ECDSA with a hash, AES-CBC-PAD and AES-GCM, ECDH, AES key wrap).
. "$(dirname "$0")/common.sh"
kms_need p11-kit
: "${KMS11_CLI:?KMS11_CLI must name the kms11 tool}"
K=("$KMS11_CLI")
client=$(find /usr/lib /usr/lib64 -name p11-kit-client.so 2>/dev/null | head -n 1)
[ -n "$client" ] || kms_die "p11-kit-client.so is not installed (package p11-kit-modules)"

"${K[@]}" token init --label remote --so-pin "$KMS_SO_PIN" --pin "$KMS_PIN" >/dev/null || kms_die "token init"
sock="$KMS_TMP/p11kit.sock"
p11-kit server -f -n "$sock" --provider "$KMS11_MODULE" "pkcs11:token=remote" >"$KMS_TMP/server.out" 2>&1 &
KMS_PIDS+=($!)
for _ in $(seq 50); do
	[ -S "$sock" ] && break
	sleep 0.1
done
[ -S "$sock" ] || { cat "$KMS_TMP/server.out" >&2; kms_die "p11-kit server did not make its socket"; }
export P11_KIT_SERVER_ADDRESS="unix:path=$sock"

kms_run "pkcs11-tool -L through p11-kit-client.so" pkcs11-tool --module "$client" -L
kms_check "... shows the kms11 token" grep -q "token label *: remote" "$KMS_TMP/last.log"
rc=0
/usr/bin/python3 - "$client" "$KMS_PIN" >"$KMS_TMP/remote.log" 2>&1 <<'PY' || rc=$?
import sys, PyKCS11
from PyKCS11.LowLevel import *
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

lib = PyKCS11.PyKCS11Lib()
lib.load(sys.argv[1])
slot = lib.getSlotList(tokenPresent=True)[0]
s = lib.openSession(slot, PyKCS11.CKF_RW_SESSION)
s.login(sys.argv[2])
ok = bad = 0


def check(name, cond):
    global ok, bad
    print(("ok - " if cond else "not ok - ") + name)
    ok, bad = ok + bool(cond), bad + (not cond)


def code(f):
    try:
        f()
        return CKR_OK
    except PyKCS11.PyKCS11Error as e:
        return e.value


pub, priv = s.generateKeyPair(
    [(CKA_TOKEN, True), (CKA_MODULUS_BITS, 2048), (CKA_PUBLIC_EXPONENT, (1, 0, 1)), (CKA_VERIFY, True),
     (CKA_ENCRYPT, True), (CKA_LABEL, "remote-rsa")],
    [(CKA_TOKEN, True), (CKA_SIGN, True), (CKA_DECRYPT, True), (CKA_LABEL, "remote-rsa")],
    mecha=PyKCS11.MechanismRSAGENERATEKEYPAIR)
check("RSA-2048 key pair generated through the RPC", priv is not None)
epub, epriv = s.generateKeyPair(
    [(CKA_TOKEN, True), (CKA_EC_PARAMS, bytes.fromhex("06082a8648ce3d030107")), (CKA_LABEL, "remote-ec")],
    [(CKA_TOKEN, True), (CKA_SIGN, True), (CKA_DERIVE, True), (CKA_LABEL, "remote-ec")],
    mecha=PyKCS11.Mechanism(CKM_EC_KEY_PAIR_GEN))
check("P-256 key pair generated through the RPC", epriv is not None)
n, e = s.getAttributeValue(pub, [CKA_MODULUS, CKA_PUBLIC_EXPONENT])
rsa_pub = rsa.RSAPublicNumbers(int.from_bytes(bytes(e), "big"), int.from_bytes(bytes(n), "big")).public_key()
point = bytes(s.getAttributeValue(epub, [CKA_EC_POINT])[0])
ec_pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point[2:])
msg = b"through p11-kit's RPC"
sig = bytes(s.sign(priv, msg, PyKCS11.Mechanism(CKM_SHA256_RSA_PKCS)))
try:
    rsa_pub.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
    check("SHA256-RSA-PKCS signature verifies", True)
except Exception:
    check("SHA256-RSA-PKCS signature verifies", False)
digest = hashes.Hash(hashes.SHA256())
digest.update(msg)
dg = digest.finalize()
esig = bytes(s.sign(epriv, dg, PyKCS11.Mechanism(CKM_ECDSA)))
try:
    r, t = int.from_bytes(esig[:32], "big"), int.from_bytes(esig[32:], "big")
    ec_pub.verify(utils.encode_dss_signature(r, t), dg, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    check("raw ECDSA signature verifies", True)
except Exception:
    check("raw ECDSA signature verifies", False)
ct = bytes(s.encrypt(pub, msg, PyKCS11.RSAOAEPMechanism(CKM_SHA256, CKG_MGF1_SHA256)))
check("RSA-OAEP-SHA256 encryption through the RPC", len(ct) == 256)
check("... and decryption back to the message", bytes(s.decrypt(priv, ct, PyKCS11.RSAOAEPMechanism(CKM_SHA256, CKG_MGF1_SHA256))) == msg)
aes = s.generateKey([(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_VALUE_LEN, 32), (CKA_ENCRYPT, True),
                     (CKA_DECRYPT, True), (CKA_TOKEN, False), (CKA_WRAP, True), (CKA_EXTRACTABLE, True)])
block = bytes(s.encrypt(aes, b"0123456789abcdef", PyKCS11.Mechanism(CKM_AES_ECB)))
check("AES-ECB round trip", bytes(s.decrypt(aes, block, PyKCS11.Mechanism(CKM_AES_ECB))) == b"0123456789abcdef")
check("SHA-256 digest", bytes(s.digest(msg, PyKCS11.Mechanism(CKM_SHA256))) == dg)
check("random", len(bytes(s.generateRandom(32))) == 32)
# What p11-kit 0.24's RPC cannot carry: the client refuses it.
refused = {
    "RSA-PSS": lambda: s.sign(priv, msg, PyKCS11.RSA_PSS_Mechanism(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32)),
    "ECDSA-SHA256": lambda: s.sign(epriv, msg, PyKCS11.Mechanism(CKM_ECDSA_SHA256)),
    "AES-CBC-PAD": lambda: s.encrypt(aes, msg, PyKCS11.Mechanism(CKM_AES_CBC_PAD, b"\0" * 16)),
    "AES-GCM": lambda: s.encrypt(aes, msg, PyKCS11.AES_GCM_Mechanism(b"\0" * 12, b"", 128)),
    "ECDH1-DERIVE": lambda: s.deriveKey(epriv, [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_GENERIC_SECRET),
                                                (CKA_VALUE_LEN, 32), (CKA_TOKEN, False)],
                                        PyKCS11.ECDH1_DERIVE_Mechanism(point)),
    "AES-KEY-WRAP": lambda: s.wrapKey(aes, aes, PyKCS11.Mechanism(CKM_AES_KEY_WRAP)),
}
for name, f in refused.items():
    check("p11-kit 0.24's RPC cannot carry %s: CKR_MECHANISM_INVALID" % name, code(f) == CKR_MECHANISM_INVALID)
print("# remote: %d ok, %d not ok" % (ok, bad))
sys.exit(1 if bad else 0)
PY
sed 's/^/# /' "$KMS_TMP/remote.log"
kms_check "the checks through p11-kit-client.so (each line above)" [ "$rc" -eq 0 ]
"${K[@]}" key list --filter 'name[eq]remote-ec' >"$KMS_TMP/list.json"
kms_check "the key made through the RPC is a kms11 key the CLI lists" [ "$(kms_json "$KMS_TMP/list.json" 'len(d["list"])')" = 1 ]
kms_finish
