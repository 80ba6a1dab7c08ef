#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The management plane through the kms11 CLI, seen by PKCS#11 clients: argument checking before the store or
# a PIN is touched, exit codes, the key object's JSON, key resolution over two tokens, names, tags, the
# lifecycle (disable, scheduled deletion, expiration) enforced for pkcs11-tool and PyKCS11, and the facts read
# by PyKCS11 as vendor attributes.
. "$(dirname "$0")/common.sh"
kms_need pkcs11-tool openssl python3 faketime
: "${KMS11_CLI:?KMS11_CLI must name the kms11 tool}"
[ -x "$KMS11_CLI" ] || kms_die "the kms11 tool $KMS11_CLI is missing"
K=("$KMS11_CLI")
PY=/usr/bin/python3
unset KMS11_PIN KMS11_SO_PIN

# With KMS11_TEST_ENGINE=pkcs11 the second token keeps its keys in SoftHSMv2 (common.sh made its backend token).
beta_engine='engine = openssl'
[ "${KMS11_TEST_ENGINE:-openssl}" = pkcs11 ] && beta_engine='engine = pkcs11\nbackend-token = kms11-backend'
printf "[token:alpha]\nengine = openssl\n\n[token:beta]\n$beta_engine\n" >"$KMS_TMP/kms11.conf"
export KMS11_CONF="$KMS_TMP/kms11.conf"

# --- help, version, and arguments checked before anything else ---
kms_expect 0 "kms11 --help" "${K[@]}" --help
kms_check "kms11 --help lists key create" grep -q "key    create" "$KMS_TMP/out.json"
kms_expect 0 "kms11 key --help" "${K[@]}" key --help
kms_expect 0 "kms11 key create -h" "${K[@]}" key create -h
kms_check "key create --help lists --expiration-date" grep -q -- "--expiration-date" "$KMS_TMP/out.json"
kms_expect 0 "kms11 --version" "${K[@]}" --version
kms_expect 2 "an unknown verb" "${K[@]}" key frob --pin 0000
kms_check "the error names the verb, as JSON on stderr" \
	[ "$(kms_json "$KMS_TMP/err.json" '"frob" in d["err"]')" = True ]
kms_expect 2 "--size abc" "${K[@]}" key create --algorithm RSA --size abc --name x --pin 0000
kms_check "the error names the field" grep -q '"size:' "$KMS_TMP/err.json"
kms_expect 2 "--size 1000 for RSA" "${K[@]}" key create --algorithm RSA --size 1000 --name x --pin 0000
kms_expect 2 "--algorithm DES" "${K[@]}" key create --algorithm DES --name x --pin 0000
kms_expect 2 "--metadata that is not an object" "${K[@]}" key create --algorithm AES --name x --metadata '[1]' --pin 0000
kms_expect 2 "a tag given twice" "${K[@]}" key create --algorithm AES --name x --tag a --tag a --pin 0000
kms_expect 2 "an expiration date in the past" "${K[@]}" key create --algorithm AES --name x \
	--expiration-date 2001-01-01 --pin 0000
kms_expect 2 "an unknown option" "${K[@]}" key get x --colour red
kms_expect 2 "--days 3" "${K[@]}" key schedule-deletion x --days 3 --pin 0000
kms_check "none of that made a store" [ ! -e "$KMS11_STORE/data.mdb" ]

# --- tokens ---
kms_expect 0 "token init alpha" "${K[@]}" token init --engine-id alpha --label alpha --so-pin "$KMS_SO_PIN" --pin "$KMS_PIN"
kms_expect 0 "token init beta (--opt=value)" "${K[@]}" token init --engine-id=beta --label=beta --so-pin="$KMS_SO_PIN" \
	--pin="$KMS_PIN"
kms_expect 4 "token init of an initialised token without --force" "${K[@]}" token init --engine-id alpha --label alpha \
	--so-pin "$KMS_SO_PIN" --pin "$KMS_PIN"
kms_expect 0 "token list" "${K[@]}" token list
kms_check "two initialised tokens, alpha the default, each present with its slot, serial and PIN states" \
	[ "$(kms_json "$KMS_TMP/out.json" '[(t["id"], t["initialized"], t["default"], t["present"], t["slot"],
		len(t["serial"]), t["user_pin"], t["so_pin"], "supported_key_types" in t) for t in d["list"]]')" = \
		"[('alpha', True, True, True, 0, 16, 'ok', 'ok', False), ('beta', True, False, True, 1, 16, 'ok', 'ok', False)]" ]

# --- create, and the key object ---
kms_expect 0 "create ECDSA with tags, metadata, description" "${K[@]}" key create --algorithm ECDSA --size 384 --name web \
	--tag prod --tag tls --metadata '{"owner":"sec","n":3}' --description "the web key" --pin "$KMS_PIN"
cp "$KMS_TMP/out.json" "$KMS_TMP/web.json"
kms_check "key object fields" [ "$(kms_json "$KMS_TMP/web.json" '(d["algorithm"], d["size"], d["engine_id"],
	d["has_private_key"], d["tags"], d["metadata"], d["description"], d["state"], d["version"], d["extractable"],
	len(d["key_id"]))')" = "('ECDSA', 384, 'alpha', True, ['prod', 'tls'], {'owner': 'sec', 'n': 3}, 'the web key', 'enabled', 1, False, 64)" ]
kms_check "public_key is base64 of a PEM P-384 key that openssl reads" \
	bash -c "$PY -c 'import json,sys,base64; sys.stdout.buffer.write(base64.b64decode(json.load(open(sys.argv[1]))[\"public_key\"]))' \
	$KMS_TMP/web.json | openssl pkey -pubin -noout -text | grep -q 'NIST CURVE: P-384'"
kms_check "key_id is the SHA-256 of the SubjectPublicKeyInfo" [ "$(kms_json "$KMS_TMP/web.json" 'd["key_id"]')" = \
	"$($PY -c 'import json,sys,base64; sys.stdout.buffer.write(base64.b64decode(json.load(open(sys.argv[1]))["public_key"]))' \
		"$KMS_TMP/web.json" | openssl pkey -pubin -outform DER | sha256sum | cut -d" " -f1)" ]
web_id=$(kms_json "$KMS_TMP/web.json" 'd["key_id"]')
web_uri=$(kms_json "$KMS_TMP/web.json" 'd["pkcs11_uri"]')
kms_expect 4 "a second key named web in the same token" "${K[@]}" key create --algorithm Ed25519 --name web --pin "$KMS_PIN"
kms_expect 0 "a key named web in the other token" "${K[@]}" key create --algorithm Ed25519 --name web --engine-id beta \
	--pin "$KMS_PIN"
beta_web=$(kms_json "$KMS_TMP/out.json" 'd["key_id"]')
# token init --force is one store transaction: refused (wrong SO PIN), it changes nothing.
kms_expect 5 "token init --force with a wrong SO PIN" "${K[@]}" token init --engine-id beta --force --label renamed \
	--so-pin 87654321 --pin 5555
kms_expect 0 "token info after it" "${K[@]}" token info --engine-id beta
kms_check "... the token keeps its label and user PIN" [ "$(kms_json "$KMS_TMP/out.json" '(d["id"], d["user_pin"])')" = \
	"('beta', 'ok')" ]
kms_expect 0 "... its key is still there" "${K[@]}" key get "$beta_web"
kms_expect 0 "... and signs with the old user PIN" "${K[@]}" key sign "$beta_web" --algorithm ED25519 \
	--message aGVsbG8= --pin "$KMS_PIN"
kms_expect 0 "create AES-128" "${K[@]}" key create --algorithm AES --size 128 --name data --pin "$KMS_PIN"
kms_check "AES key: size 128, no public key, a 128-bit key id" [ "$(kms_json "$KMS_TMP/out.json" '(d["algorithm"], d["size"],
	"public_key" in d, len(d["key_id"]), d["has_private_key"])')" = "('AES', 128, False, 32, False)" ]
kms_expect 0 "create HMAC-384" "${K[@]}" key create --algorithm HMAC --size 384 --name mac --pin "$KMS_PIN"
kms_check "HMAC key: size 384" [ "$(kms_json "$KMS_TMP/out.json" '(d["algorithm"], d["size"])')" = "('HMAC', 384)" ]
kms_expect 5 "a wrong PIN" "${K[@]}" key create --algorithm AES --name other --pin 9999
kms_check "the error says the PIN was wrong" grep -q "wrong PIN" "$KMS_TMP/err.json"

# --- resolution ---
kms_expect 2 "key get web names two keys" "${K[@]}" key get web
kms_check "the error names both candidates" grep -q "alpha/$web_id" "$KMS_TMP/err.json"
kms_check "... and the other" grep -q "beta/$beta_web" "$KMS_TMP/err.json"
kms_expect 0 "key get web --engine-id alpha" "${K[@]}" key get web --engine-id alpha
kms_check "is the alpha key" [ "$(kms_json "$KMS_TMP/out.json" 'd["key_id"]')" = "$web_id" ]
kms_expect 0 "key get by key id" "${K[@]}" key get "$web_id"
kms_expect 0 "key get by its pkcs11_uri" "${K[@]}" key get "$web_uri"
kms_check "is the same key" [ "$(kms_json "$KMS_TMP/out.json" 'd["key_id"]')" = "$web_id" ]
kms_expect 0 "key get 'pkcs11:token=beta;object=web'" "${K[@]}" key get 'pkcs11:token=beta;object=web;type=private'
kms_check "the URI's token decides" [ "$(kms_json "$KMS_TMP/out.json" 'd["key_id"]')" = "$beta_web" ]
kms_expect 0 "key get in Lamassu's token-id form" "${K[@]}" key get "pkcs11:token-id=alpha;id=$web_id;type=private"
kms_check "is the alpha key" [ "$(kms_json "$KMS_TMP/out.json" 'd["key_id"]')" = "$web_id" ]
kms_expect 3 "key get of an unknown key" "${K[@]}" key get nosuch
kms_expect 3 "key delete 'pkcs11:token=beta;object=data' (data is in alpha)" "${K[@]}" key delete \
	'pkcs11:token=beta;object=data' --pin "$KMS_PIN"
kms_expect 0 "data is still there" "${K[@]}" key get data

# --- names and tags ---
kms_expect 4 "rename web to data (taken in alpha)" "${K[@]}" key rename "$web_id" --name data --pin "$KMS_PIN"
kms_expect 0 "rename web to www" "${K[@]}" key rename "$web_id" --name www --pin "$KMS_PIN"
kms_check "renamed" [ "$(kms_json "$KMS_TMP/out.json" 'd["name"]')" = www ]
kms_expect 0 "tags replaced" "${K[@]}" key tags www --tag blue --tag green --pin "$KMS_PIN"
kms_check "tags are blue, green" [ "$(kms_json "$KMS_TMP/out.json" 'd["tags"]')" = "['blue', 'green']" ]

# Aliases and metadata by JSON Patch; aliases are unique across the store and resolve keys.
kms_expect 0 "aliases: add two" "${K[@]}" key aliases www --patch '[{"op":"add","path":"/-","value":"front"},
	{"op":"add","path":"/0","value":"edge"}]' --pin "$KMS_PIN"
kms_check "aliases are edge, front" [ "$(kms_json "$KMS_TMP/out.json" 'd["aliases"]')" = "['edge', 'front']" ]
kms_expect 0 "key get by alias" "${K[@]}" key get front
kms_check "is the www key" [ "$(kms_json "$KMS_TMP/out.json" 'd["key_id"]')" = "$web_id" ]
kms_expect 4 "an alias another key holds (across tokens)" "${K[@]}" key aliases "$beta_web" \
	--patch '[{"op":"add","path":"/-","value":"front"}]' --pin "$KMS_PIN"
kms_expect 0 "aliases: replace one" "${K[@]}" key aliases www --patch '[{"op":"replace","path":"/1","value":"back"}]' \
	--pin "$KMS_PIN"
kms_check "aliases are edge, back" [ "$(kms_json "$KMS_TMP/out.json" 'd["aliases"]')" = "['edge', 'back']" ]
kms_expect 0 "now the beta key may take front" "${K[@]}" key aliases "$beta_web" \
	--patch '[{"op":"add","path":"/-","value":"front"}]' --pin "$KMS_PIN"
kms_expect 2 "aliases: the same alias twice" "${K[@]}" key aliases www --patch '[{"op":"add","path":"/-","value":"edge"}]' \
	--pin "$KMS_PIN"
kms_expect 2 "a patch that is not an array, before any PIN" "${K[@]}" key metadata www --patch '{"op":"add"}' --pin 0000
kms_expect 0 "metadata: test, replace, add, remove, move, copy" "${K[@]}" key metadata www --patch '[
	{"op":"test","path":"/owner","value":"sec"},{"op":"replace","path":"/owner","value":"ops"},
	{"op":"add","path":"/env","value":{"tier":1}},{"op":"remove","path":"/n"},
	{"op":"copy","from":"/env","path":"/env2"},{"op":"move","from":"/env2/tier","path":"/tier"}]' --pin "$KMS_PIN"
kms_check "metadata patched" [ "$(kms_json "$KMS_TMP/out.json" 'd["metadata"]')" = \
	"{'owner': 'ops', 'env': {'tier': 1}, 'env2': {}, 'tier': 1}" ]
kms_expect 4 "a failing test changes nothing" "${K[@]}" key metadata www --patch '[{"op":"remove","path":"/tier"},
	{"op":"test","path":"/owner","value":"sec"}]' --pin "$KMS_PIN"
kms_expect 0 "key get www" "${K[@]}" key get www
kms_check "metadata unchanged" [ "$(kms_json "$KMS_TMP/out.json" 'd["metadata"]["tier"]')" = 1 ]

# PyKCS11 reads the facts as vendor attributes and finds both halves by one tag.
cat >"$KMS_TMP/facts.py" <<'PY'
import sys, PyKCS11
KM = 0x80000000 | 0x4B4D0000
lib = PyKCS11.PyKCS11Lib()
lib.load(sys.argv[1])
slot = [s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == "alpha"][0]
s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
s.login("1234")
objs = s.findObjects([(KM + 5, b"green")])
labels = sorted(bytes(s.getAttributeValue(o, [PyKCS11.CKA_LABEL], allAsBinary=True)[0]).decode() for o in objs)
tags = bytes(s.getAttributeValue(objs[0], [KM + 5], allAsBinary=True)[0])
state = int.from_bytes(bytes(s.getAttributeValue(objs[0], [KM + 7], allAsBinary=True)[0]), sys.byteorder)
print(len(objs), labels, tags, state)
PY
kms_check "PyKCS11: a tag template finds both halves; tags and state read" \
	[ "$($PY "$KMS_TMP/facts.py" "$KMS11_MODULE")" = "2 ['www', 'www'] b'blue\x00green\x00' 1" ]
kms_expect 0 "tags --clear" "${K[@]}" key tags www --clear --pin "$KMS_PIN"
kms_check "no tags left" [ "$(kms_json "$KMS_TMP/out.json" 'd["tags"]')" = "[]" ]

# --- lifecycle, enforced for every client ---
kms_try "${P11[@]}" --token-label alpha -O --type privkey || true
p11_id=$(awk '$1 == "label:" { l = $2 } $1 == "ID:" && l == "www" { print $2; exit }' "$KMS_TMP/last.log")
echo hello >"$KMS_TMP/msg"
kms_run "pkcs11-tool signs with the enabled key" "${P11[@]}" --token-label alpha --login --pin "$KMS_PIN" --sign \
	-m ECDSA-SHA256 --id "$p11_id" -i "$KMS_TMP/msg" -o "$KMS_TMP/sig"

# A PyKCS11 process that keeps its session across the CLI's changes.
cat >"$KMS_TMP/life.py" <<'PY'
import sys, PyKCS11
lib = PyKCS11.PyKCS11Lib()
lib.load(sys.argv[1])
slot = [s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == "alpha"][0]
s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
s.login("1234")
k = s.findObjects([(PyKCS11.CKA_LABEL, "www"), (PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])[0]
for line in sys.stdin:
    try:
        s.sign(k, b"x", PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256))
        print("signed", flush=True)
    except PyKCS11.PyKCS11Error as e:
        print(PyKCS11.CKR[e.value], flush=True)
PY
mkfifo "$KMS_TMP/life.in"
$PY "$KMS_TMP/life.py" "$KMS11_MODULE" <"$KMS_TMP/life.in" >"$KMS_TMP/life.out" 2>&1 &
KMS_PIDS+=($!)
exec 7>"$KMS_TMP/life.in"
ask() { # ask N: one more sign in the PyKCS11 process; prints its answer (line N)
	echo go >&7
	for _ in $(seq 100); do
		[ "$(wc -l <"$KMS_TMP/life.out")" -ge "$1" ] && break
		sleep 0.1
	done
	sed -n "${1}p" "$KMS_TMP/life.out"
}
kms_check "PyKCS11 signs while the key is enabled" [ "$(ask 1)" = signed ]
kms_expect 0 "key disable" "${K[@]}" key disable www --pin "$KMS_PIN"
kms_check "the key's state is disabled" [ "$(kms_json "$KMS_TMP/out.json" 'd["state"]')" = disabled ]
kms_check "the running PyKCS11 process is refused with CKR_KEY_FUNCTION_NOT_PERMITTED" \
	[ "$(ask 2)" = CKR_KEY_FUNCTION_NOT_PERMITTED ]
if "${P11[@]}" --token-label alpha --login --pin "$KMS_PIN" --sign -m ECDSA-SHA256 --id "$p11_id" \
	-i "$KMS_TMP/msg" -o "$KMS_TMP/sig2" >"$KMS_TMP/p11.log" 2>&1; then
	kms_fail "pkcs11-tool signs with a disabled key"
else
	kms_check "pkcs11-tool is refused with CKR_KEY_FUNCTION_NOT_PERMITTED" grep -q CKR_KEY_FUNCTION_NOT_PERMITTED \
		"$KMS_TMP/p11.log"
fi
kms_expect 0 "key enable" "${K[@]}" key enable www --pin "$KMS_PIN"
kms_check "PyKCS11 signs again" [ "$(ask 3)" = signed ]
kms_expect 0 "schedule-deletion --days 7" "${K[@]}" key schedule-deletion www --days 7 --pin "$KMS_PIN"
kms_check "pending deletion in 7 days" [ "$(kms_json "$KMS_TMP/out.json" '(d["state"], d["deletion_date"][:10])')" = \
	"('pending_deletion', '$(date -u -d '+7 days' +%F)')" ]
kms_check "PyKCS11 is refused" [ "$(ask 4)" = CKR_KEY_FUNCTION_NOT_PERMITTED ]
kms_expect 4 "enable of a key pending deletion" "${K[@]}" key enable www --pin "$KMS_PIN"
kms_expect 0 "cancel-deletion" "${K[@]}" key cancel-deletion www --pin "$KMS_PIN"
kms_check "the key is disabled, with no deletion date" [ "$(kms_json "$KMS_TMP/out.json" '(d["state"],
	"deletion_date" in d)')" = "('disabled', False)" ]
kms_expect 4 "cancel-deletion of a key not pending" "${K[@]}" key cancel-deletion www --pin "$KMS_PIN"
exec 7>&-

# Expiration: after it the key no longer signs but still verifies (faketime moves the client's clock).
expires=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
kms_expect 0 "create a key expiring tomorrow" "${K[@]}" key create --algorithm ECDSA --name short \
	--expiration-date "$expires" --pin "$KMS_PIN"
kms_check "expiration_date is shown" [ "$(kms_json "$KMS_TMP/out.json" 'd["expiration_date"]')" = "$expires" ]
cat >"$KMS_TMP/expiry.py" <<'PY'
import sys, PyKCS11
lib = PyKCS11.PyKCS11Lib()
lib.load(sys.argv[1])
slot = [s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == "alpha"][0]
s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
s.login("1234")
priv = s.findObjects([(PyKCS11.CKA_LABEL, "short"), (PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])[0]
pub = s.findObjects([(PyKCS11.CKA_LABEL, "short"), (PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY)])[0]
m = PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256)
if sys.argv[2] == "sign":
    open(sys.argv[3], "wb").write(bytes(s.sign(priv, b"msg", m)))
    print("signed")
else:
    try:
        s.sign(priv, b"msg", m)
        print("signed")
    except PyKCS11.PyKCS11Error as e:
        print(PyKCS11.CKR[e.value], s.verify(pub, b"msg", open(sys.argv[3], "rb").read(), m))
PY
kms_check "today the key signs" [ "$($PY "$KMS_TMP/expiry.py" "$KMS11_MODULE" sign "$KMS_TMP/short.sig")" = signed ]
kms_check "in two days it refuses to sign but verifies" \
	[ "$(faketime -f '+2d' $PY "$KMS_TMP/expiry.py" "$KMS11_MODULE" later "$KMS_TMP/short.sig")" = \
		"CKR_KEY_FUNCTION_NOT_PERMITTED True" ]

# Scheduled deletion happens in kms11 maintain once the date has passed, never before (faketime moves its clock).
kms_expect 0 "create a key to delete later" "${K[@]}" key create --algorithm Ed25519 --name doomed --pin "$KMS_PIN"
doomed_id=$(kms_json "$KMS_TMP/out.json" 'd["key_id"]')
kms_expect 0 "schedule its deletion in 7 days" "${K[@]}" key schedule-deletion doomed --days 7 --pin "$KMS_PIN"
kms_expect 0 "kms11 maintain today" "${K[@]}" maintain --pin "$KMS_PIN"
kms_check "deletes nothing" [ "$(kms_json "$KMS_TMP/out.json" '(d["deleted"], d["errors"])')" = "([], [])" ]
kms_expect 0 "the key is still there" "${K[@]}" key get doomed
kms_expect 0 "kms11 maintain in 6 days" faketime -f '+6d' "${K[@]}" maintain --pin "$KMS_PIN"
kms_check "deletes nothing" [ "$(kms_json "$KMS_TMP/out.json" 'd["deleted"]')" = "[]" ]
kms_expect 0 "kms11 maintain in 8 days" faketime -f '+8d' "${K[@]}" maintain --pin "$KMS_PIN"
kms_check "deletes exactly the doomed key" [ "$(kms_json "$KMS_TMP/out.json" 'd["deleted"]')" = \
	"[{'engine_id': 'alpha', 'key_id': '$doomed_id'}]" ]
kms_expect 3 "the doomed key is gone" "${K[@]}" key get doomed
kms_expect 0 "www (its deletion cancelled) is still there" "${K[@]}" key get www
kms_expect 5 "kms11 maintain with a wrong PIN and nothing due" "${K[@]}" maintain --pin 9999

# --- delete ---
kms_expect 0 "key delete" "${K[@]}" key delete data --pin "$KMS_PIN"
kms_check "delete prints the key it deleted" [ "$(kms_json "$KMS_TMP/out.json" 'd["name"]')" = data ]
kms_expect 3 "key get of the deleted key" "${K[@]}" key get data
kms_expect 0 "key list --table" "${K[@]}" key list --table
kms_check "the table has a header and the keys" bash -c "head -1 '$KMS_TMP/out.json' | grep -q '^name  *algorithm' &&
	grep -q '^mac ' '$KMS_TMP/out.json' && ! grep -q '^data ' '$KMS_TMP/out.json'"
kms_expect 0 "key list --engine-id beta" "${K[@]}" key list --engine-id beta
kms_check "beta holds one key" [ "$(kms_json "$KMS_TMP/out.json" '[k["key_id"] for k in d["list"]]')" = "['$beta_web']" ]

# --- engines, summary, PIN changes ---
kms_expect 0 "engine list" "${K[@]}" engine list
kms_check "two engines, openssl, available, with the key kinds (and no PIN states)" [ "$(kms_json "$KMS_TMP/out.json" '[(e["id"], e["type"],
	e["available"], [t["algorithm"] for t in e["supported_key_types"]], "user_pin" in e) for e in d["list"]]')" = \
	"[('alpha', 'openssl', True, ['RSA', 'ECDSA', 'Ed25519', 'AES', 'HMAC'], False), ('beta', '${KMS11_TEST_ENGINE:-openssl}', True, ['RSA', 'ECDSA', 'Ed25519', 'AES', 'HMAC'], False)]" ]
# Names are checked again in the transaction that writes the key: of processes racing for one name, one wins.
for i in 1 2 3 4; do
	(rc=0; "${K[@]}" key create --algorithm RSA --size 2048 --name race --pin "$KMS_PIN" >/dev/null \
		2>"$KMS_TMP/race$i.err" || rc=$?; echo $rc >"$KMS_TMP/race$i.rc") &
done
wait
kms_check "4 racing creates of one name: one succeeds, three are conflicts (exit 4)" \
	[ "$(cat "$KMS_TMP"/race[1-4].rc | sort | tr '\n' ' ')" = "0 4 4 4 " ]
kms_expect 0 "list by that name" "${K[@]}" key list --filter 'name[eq]race'
kms_check "... finds one key" [ "$(kms_json "$KMS_TMP/out.json" 'len(d["list"])')" = 1 ]
for i in 1 2 3; do
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null | base64 -w0 >"$KMS_TMP/race$i.b64"
done
for i in 1 2 3; do
	(rc=0; "${K[@]}" key import --private-key "$(cat "$KMS_TMP/race$i.b64")" --name race-import --pin "$KMS_PIN" \
		>/dev/null 2>"$KMS_TMP/racei$i.err" || rc=$?; echo $rc >"$KMS_TMP/racei$i.rc") &
done
wait
kms_check "3 racing imports of one name: one succeeds, two are conflicts" \
	[ "$(cat "$KMS_TMP"/racei[1-3].rc | sort | tr '\n' ' ')" = "0 4 4 " ]
pkcs11-tool --module "$KMS11_MODULE" --token-label alpha --login --pin "$KMS_PIN" -O >"$KMS_TMP/objs.txt" 2>/dev/null
kms_check "... and the token holds exactly one pair named race-import (no half of a refused import)" \
	[ "$(grep -c 'label: *race-import$' "$KMS_TMP/objs.txt")" = 2 ]
"${K[@]}" key count --engine-id alpha >"$KMS_TMP/count.json"
kms_expect 0 "summary" "${K[@]}" summary
kms_check "counts the keys per engine" [ "$(kms_json "$KMS_TMP/out.json" '[(e["id"], e["available"], e["keys"]) for e in d["engines"]]')" \
	= "[('alpha', True, $(kms_json "$KMS_TMP/count.json" 'd["count"]')), ('beta', True, 1)]" ]
kms_expect 0 "token set-pin" "${K[@]}" token set-pin --engine-id beta --pin "$KMS_PIN" --new-pin 87654321
kms_expect 5 "the old PIN no longer works" "${K[@]}" key tags "$beta_web" --tag x --pin "$KMS_PIN"
kms_expect 0 "the new one does" "${K[@]}" key tags "$beta_web" --tag x --pin 87654321
for _ in $(seq 10); do "${K[@]}" key tags "$beta_web" --tag y --pin 00000000 >/dev/null 2>&1 || true; done
kms_expect 0 "token info" "${K[@]}" token info --engine-id beta
kms_check "the user PIN is locked after ten wrong ones" [ "$(kms_json "$KMS_TMP/out.json" 'd["user_pin"]')" = locked ]
kms_expect 5 "a locked PIN refuses even the right one" "${K[@]}" key tags "$beta_web" --tag x --pin 87654321
kms_check "saying it is locked" grep -q "locked" "$KMS_TMP/err.json"
kms_expect 5 "token unlock with a wrong SO PIN" "${K[@]}" token unlock --engine-id beta --so-pin 00000000 --new-pin "$KMS_PIN"
# On the pkcs11 engine the backend keeps the PIN set-pin gave it (kms11's SO cannot reset a backend's user PIN), so
# the new kms11 PIN must be that one again.
unlock_pin=$KMS_PIN
[ "${KMS11_TEST_ENGINE:-openssl}" = pkcs11 ] && unlock_pin=87654321
kms_expect 0 "token unlock" "${K[@]}" token unlock --engine-id beta --so-pin "$KMS_SO_PIN" --new-pin "$unlock_pin"
kms_expect 0 "the user is back" "${K[@]}" key tags "$beta_web" --tag z --pin "$unlock_pin"
kms_finish
