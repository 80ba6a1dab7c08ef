#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kms11 key list, count and stats against a seeded store of two tokens: the examples of FILTERS.md, every
# operator of every field type, sorts both ways, and page walks by bookmark that see every key exactly once
# while keys are added and deleted between pages. Expected answers come from the seed's own description of
# what it made (an oracle in Python), not from kms11.
. "$(dirname "$0")/common.sh"
kms_need python3 faketime
: "${KMS11_CLI:?KMS11_CLI must name the kms11 tool}"
K=("$KMS11_CLI")
PY=/usr/bin/python3
SEED="$(dirname "$0")/seed-keys.py"
unset KMS11_PIN KMS11_SO_PIN
printf '[token:alpha]\nengine = openssl\n\n[token:beta]\nengine = openssl\n' >"$KMS_TMP/kms11.conf"
export KMS11_CONF="$KMS_TMP/kms11.conf"
"${K[@]}" token init --engine-id alpha --label alpha --so-pin "$KMS_SO_PIN" --pin "$KMS_PIN" >/dev/null ||
	kms_die "token init alpha"
"${K[@]}" token init --engine-id beta --label beta --so-pin "$KMS_SO_PIN" --pin "$KMS_PIN" >/dev/null ||
	kms_die "token init beta"

# Q1 2026 keys (the clock moved back), then today's keys.
faketime '2026-02-15 12:00:00' $PY "$SEED" "$KMS11_MODULE" alpha "$KMS_PIN" "" \
	'db-backup:RSA:3072:production,db:{"owner":"security-team","rotation_days":90}' \
	'old-web:ECDSA:256:web:{"owner":"web-team","rotation_days":30}' >"$KMS_TMP/seed1.json" || kms_die "seed 1"
faketime '2025-12-20 08:00:00' $PY "$SEED" "$KMS11_MODULE" beta "$KMS_PIN" "" \
	'legacy:RSA:2048:Prod:{"owner":"ops","tier":{"level":2}}' >"$KMS_TMP/seed2.json" || kms_die "seed 2"
$PY "$SEED" "$KMS11_MODULE" alpha "$KMS_PIN" "" \
	'api:RSA:2048:production:{"owner":"security-team","rotation_days":45}' \
	'Backup-Archive:AES:256:db,archive:{"owner":"storage"}' \
	'edge:Ed25519:256:web,production:{}' \
	'mail:ECDSA:384::{"owner":"mail","rotation_days":365,"pci":true}' \
	'plain:AES:128::' >"$KMS_TMP/seed3.json" || kms_die "seed 3"
$PY "$SEED" "$KMS11_MODULE" beta "$KMS_PIN" "" \
	'beta-sign:ECDSA:256:production:{"owner":"security-team"}' \
	'beta-backup:AES:192:backup:{"owner":"ops","tier":{"level":1}}' >"$KMS_TMP/seed4.json" || kms_die "seed 4"
$PY - "$KMS_TMP" <<'PY' || kms_die "seed description"
import json, sys
d = sys.argv[1]
keys = []
for f, created in (("seed1", "2026-02-15T12:00:00Z"), ("seed2", "2025-12-20T08:00:00Z"), ("seed3", None), ("seed4", None)):
    for k in json.load(open(f"{d}/{f}.json")):
        k["created"] = created
        keys.append(k)
json.dump(keys, open(f"{d}/seed.json", "w"))
PY

# oracle EXPR: the sorted names of the seeded keys for which the Python expression EXPR over k holds.
oracle() {
	$PY -c 'import json,sys
keys = json.load(open(sys.argv[1]))
print(sorted(k["name"] for k in keys if eval(sys.argv[2], {}, {"k": k})))' "$KMS_TMP/seed.json" "$1"
}

# lists DESC WANT-EXPR FILTER...: kms11 key list with those filters selects exactly the oracle's keys.
lists() {
	local desc=$1 want=$2 got args=()
	shift 2
	for f in "$@"; do args+=(--filter "$f"); done
	if ! "${K[@]}" key list --page-size 1000 "${args[@]}" >"$KMS_TMP/l.json" 2>"$KMS_TMP/l.err"; then
		kms_fail "$desc: $(cat "$KMS_TMP/l.err")"
		return
	fi
	got=$($PY -c 'import json,sys; print(sorted(k["name"] for k in json.load(open(sys.argv[1]))["list"]))' "$KMS_TMP/l.json")
	if [ "$got" = "$(oracle "$want")" ]; then
		kms_ok "$desc"
	else
		kms_fail "$desc: got $got, want $(oracle "$want")"
	fi
}

# refused DESC FILTER: the filter is refused with exit 2 and an error naming it.
refused() {
	local rc=0
	"${K[@]}" key list --filter "$2" >/dev/null 2>"$KMS_TMP/r.err" || rc=$?
	if [ "$rc" -eq 2 ] && grep -q '"err"' "$KMS_TMP/r.err"; then
		kms_ok "$1 is refused"
	else
		kms_fail "$1: exit $rc, $(cat "$KMS_TMP/r.err")"
	fi
}

lists "every key" 'True'
# FILTERS.md's examples that apply to keys.
lists "engine_id[eq]beta" 'k["engine_id"] == "beta"' 'engine_id[eq]beta'
lists "algorithm[eq]RSA + size[ge]3072" 'k["algorithm"] == "RSA" and k["size"] >= 3072' 'algorithm[eq]RSA' 'size[ge]3072'
lists "algorithm[eq]RSA;tags[contains]production" 'k["algorithm"] == "RSA" and "production" in k["tags"]' \
	'algorithm[eq]RSA;tags[contains]production'
lists "tags[contains_ignorecase]Prod" 'any(t.lower() == "prod" for t in k["tags"])' 'tags[contains_ignorecase]Prod'
lists "metadata.owner[eq]security-team" 'k["metadata"].get("owner") == "security-team"' 'metadata.owner[eq]security-team'
lists "metadata[jsonpath]\$.rotation_days > 30" 'k["metadata"].get("rotation_days", 0) > 30' \
	'metadata[jsonpath]$.rotation_days > 30'
lists "name[ct_ic]backup" '"backup" in k["name"].lower()' 'name[ct_ic]backup'
lists "created in Q1 2026" '(k["created"] or "9") >= "2026-01-01" and (k["created"] or "9") < "2026-04-01"' \
	'creation_ts[af]2026-01-01' 'creation_ts[bf]2026-04-01'
lists "state[eq]enabled" 'True' 'state[eq]enabled'
# Every operator of every type.
lists "string eq" 'k["name"] == "api"' 'name[eq]api'
lists "string ne" 'k["name"] != "api"' 'name[ne]api'
lists "string eq_ic" 'k["name"].lower() == "backup-archive"' 'name[eq_ic]BACKUP-archive'
lists "string ne_ic" 'k["name"].lower() != "backup-archive"' 'name[ne_ic]BACKUP-archive'
lists "string ct" '"ack" in k["name"]' 'name[ct]ack'
lists "string nc" '"ack" not in k["name"]' 'name[notcontains]ack'
lists "string nc_ic" '"backup" not in k["name"].lower()' 'name[nc_ic]BACKUP'
lists "string in" 'k["name"] in ("api", "mail", "nosuch")' 'name[in]api,mail,nosuch'
lists "string nin" 'k["name"] not in ("api", "mail")' 'name[nin]api,mail'
lists "list ct (an element, not a substring)" '"db" in k["tags"]' 'tags[ct]db'
lists "list ct_ic" 'any(t.lower() == "production" for t in k["tags"])' 'tags[ct_ic]PRODUCTION'
lists "number eq" 'k["size"] == 256' 'size[eq]256'
lists "number ne" 'k["size"] != 256' 'size[ne]256'
lists "number lt" 'k["size"] < 256' 'size[lt]256'
lists "number le" 'k["size"] <= 256' 'size[le]256'
lists "number gt" 'k["size"] > 2048' 'size[gt]2048'
lists "number ge" 'k["size"] >= 2048' 'size[ge]2048'
lists "date eq (a bare date is the day)" 'k["created"] == "2026-02-15T12:00:00Z"' 'creation_ts[eq]2026-02-15'
lists "date before" 'k["created"] is not None and k["created"] < "2026-01-01"' 'creation_ts[before]2026-01-01'
lists "date after (with =)" 'k["created"] is None' 'creation_ts[af]=2026-06-01T00:00:00Z'
lists "enum eq (any case)" 'k["algorithm"] == "AES"' 'algorithm[eq]aes'
lists "enum ne" 'k["algorithm"] != "AES"' 'algorithm[ne]AES'
lists "enum in" 'k["algorithm"] in ("AES", "Ed25519")' 'algorithm[in]AES,Ed25519'
lists "has_private_key" 'k["algorithm"] != "AES"' 'has_private_key[eq]true'
lists "metadata path number gt" 'k["metadata"].get("rotation_days", 0) > 60' 'metadata.rotation_days[gt]60'
lists "metadata nested path" 'k["metadata"].get("tier", {}).get("level") == 2' 'metadata.tier.level[eq]2'
lists "jsonpath && || ! exists" \
	'(k["metadata"].get("owner") == "ops" or k["metadata"].get("pci") is True) and "rotation_days" not in k["metadata"]' \
	'metadata[jsonpath]($.owner == "ops" || $.pci == true) && !exists($.rotation_days)'
lists "jsonpath string compare" 'k["metadata"].get("owner", "") >= "s"' 'metadata[jsonpath]$.owner >= "s"'
lists "two filters of one field" 'k["size"] > 200 and k["size"] < 300' 'size[gt]200' 'size[lt]300'
lists "; joins only before a field name" 'k["name"] == "a;name[eq]b"' 'name[eq]a;name[eq]b'
refused "an unknown field" 'colour[eq]red'
refused "an operator that does not fit (lt on a string)" 'name[lt]x'
refused "an operator that does not fit (bf on a number)" 'size[bf]3'
refused "a number that is not one" 'size[gt]big'
refused "a date that is not one" 'creation_ts[af]yesterday'
refused "a broken jsonpath" 'metadata[jsonpath]$.a =='
refused "no operator" 'name=api'

# count and stats take the same filters.
if "${K[@]}" key count --filter 'tags[contains]production' >"$KMS_TMP/c.json" 2>&1; then
	kms_check "count with a filter" [ "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["count"])' \
		"$KMS_TMP/c.json")" = "$($PY -c 'import json,sys; print(sum("production" in k["tags"] for k in json.load(open(sys.argv[1]))))' "$KMS_TMP/seed.json")" ]
else
	kms_fail "key count: $(cat "$KMS_TMP/c.json")"
fi
if "${K[@]}" key stats --filter 'engine_id[eq]alpha' >"$KMS_TMP/s.json" 2>&1; then
	kms_check "stats by engine, algorithm and state" [ "$($PY -c 'import json,sys
s = json.load(open(sys.argv[1])); keys = [k for k in json.load(open(sys.argv[2])) if k["engine_id"] == "alpha"]
algs = {}
for k in keys: algs[k["algorithm"]] = algs.get(k["algorithm"], 0) + 1
print(s["total"] == len(keys) and s["engines"] == {"alpha": len(keys)} and s["algorithms"] == algs and s["states"] == {"enabled": len(keys)})' \
		"$KMS_TMP/s.json" "$KMS_TMP/seed.json")" = True ]
else
	kms_fail "key stats: $(cat "$KMS_TMP/s.json")"
fi

# Sorts, both ways.
for sort in name size creation_ts; do
	for mode in asc desc; do
		if "${K[@]}" key list --sort-by "$sort" --sort-mode "$mode" --limit 1000 >"$KMS_TMP/o.json" 2>&1; then
			kms_check "sorted by $sort $mode" [ "$($PY -c 'import json,sys
l = json.load(open(sys.argv[1]))["list"]; f, desc = sys.argv[2], sys.argv[3] == "desc"
v = [k[f] for k in l]
print(len(l) > 5 and v == sorted(v, reverse=desc))' "$KMS_TMP/o.json" "$sort" "$mode")" = True ]
		else
			kms_fail "sort by $sort $mode: $(cat "$KMS_TMP/o.json")"
		fi
	done
done
rc=0
"${K[@]}" key list --sort-by tags >/dev/null 2>&1 || rc=$?
kms_check "sort by a field that does not sort is refused (exit 2)" [ "$rc" -eq 2 ]

"${K[@]}" key list --page-size 2 --filter 'algorithm[eq]AES' >"$KMS_TMP/b.json"
bm=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["next"])' "$KMS_TMP/b.json")
kms_check "a first page of 2 AES keys has a bookmark" [ -n "$bm" ]
rc=0
"${K[@]}" key list --page-size 2 --filter 'algorithm[eq]RSA' --bookmark "$bm" >/dev/null 2>"$KMS_TMP/b.err" || rc=$?
kms_check "its bookmark with another filter is refused (exit 2)" [ "$rc" -eq 2 ]
kms_check "... saying so" grep -q "another query" "$KMS_TMP/b.err"

# Page walks: 3 keys a page, keys added and deleted between pages. Every key present from start to end is seen
# exactly once; no key twice; a deleted key not yet seen is not seen.
walk() { # walk SORT MODE
	local sort=$1 mode=$2 next="" page=0 rc
	: >"$KMS_TMP/seen"
	$PY -c 'import json,sys; [print(k["key_id"]) for k in json.load(open(sys.argv[1]))["list"]]' \
		<("${K[@]}" key list --limit 1000) | sort >"$KMS_TMP/before"
	while :; do
		page=$((page + 1))
		rc=0
		"${K[@]}" key list --page-size 3 --sort-by "$sort" --sort-mode "$mode" ${next:+--bookmark "$next"} \
			>"$KMS_TMP/p.json" 2>"$KMS_TMP/p.err" || rc=$?
		[ "$rc" -eq 0 ] || { kms_fail "page $page of the $sort $mode walk: $(cat "$KMS_TMP/p.err")"; return; }
		$PY -c 'import json,sys; [print(k["key_id"]) for k in json.load(open(sys.argv[1]))["list"]]' \
			"$KMS_TMP/p.json" >>"$KMS_TMP/seen"
		next=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["next"])' "$KMS_TMP/p.json")
		[ -n "$next" ] || break
		if [ "$page" -eq 2 ]; then
			# A new key, and one key not seen yet deleted, between pages.
			$PY "$SEED" "$KMS11_MODULE" alpha "$KMS_PIN" "walk-$sort-$mode-" "new:ECDSA:256::" >/dev/null
			victim=$(comm -23 "$KMS_TMP/before" <(sort "$KMS_TMP/seen") | grep -v "^$" | tail -n 1)
			"${K[@]}" key delete "$victim" --pin "$KMS_PIN" >/dev/null 2>&1 || kms_fail "delete $victim"
		fi
		[ "$page" -lt 50 ] || { kms_fail "the $sort $mode walk does not end"; return; }
	done
	kms_check "walk by $sort $mode: no key twice" [ -z "$(sort "$KMS_TMP/seen" | uniq -d)" ]
	kms_check "walk by $sort $mode: every key present throughout was seen" \
		[ -z "$(comm -23 <(grep -vx "$victim" "$KMS_TMP/before") <(sort "$KMS_TMP/seen"))" ]
	kms_check "walk by $sort $mode: the deleted key was not seen" bash -c "! grep -qx '$victim' '$KMS_TMP/seen'"
	kms_check "walk by $sort $mode: took at least 3 pages ($page)" [ "$page" -ge 3 ]
}
walk creation_ts asc
walk name desc
walk size asc

rc=0
"${K[@]}" key list --bookmark 'bm90IGEgYm9va21hcms=' >/dev/null 2>&1 || rc=$?
kms_check "a forged bookmark is refused (exit 2)" [ "$rc" -eq 2 ]
rc=0
"${K[@]}" key list --page-size 1001 >/dev/null 2>&1 || rc=$?
kms_check "--page-size 1001 is refused (exit 2)" [ "$rc" -eq 2 ]
kms_finish
