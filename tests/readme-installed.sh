#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# CI only, as root, with the Debian packages installed: the README's examples that name installed paths run as
# written. A block after "<!-- example: installed-file PATH -->" is written to PATH (relative paths in a directory
# of the run's own); a block after "<!-- example: installed-sh NAME -->" runs with bash -e there. In order: the
# system store; then, prepared here (the README names them as what the reader has), a key web-ec, its certificate
# and the daemon's PIN file; nginx started as the README says, read by curl through the certificate; a signature
# through pkcs11-provider, verified; the configuration examples loaded; the backup taken and checked. It changes the
# system (/etc/kms11, /var/lib/kms11, /etc/ssl/certs/web.crt, /var/log/kms11.log, /backup/kms11-2026-12-05,
# www-data's groups, an nginx on port 443) and undoes it all at the end, and before it starts.
set -euo pipefail
unset KMS11_CONF KMS11_STORE KMS11_PIN KMS11_SO_PIN OPENSSL_CONF
readme="$(cd "$(dirname "$0")/.." && pwd)/README.md"
work=$(mktemp -d)
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }
# Stops the nginx the README started (its pid file is Debian nginx's).
stop_nginx() {
	local pid
	pid=$(cat /run/nginx.pid 2>/dev/null || true)
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}
undo() {
	stop_nginx
	rm -f /etc/kms11/kms11.conf /etc/kms11/openssl-nginx.cnf /etc/kms11/nginx-web.conf /etc/kms11/web.pin \
		/etc/ssl/certs/web.crt /var/log/kms11.log
	rm -rf /backup/kms11-2026-12-05
	rmdir /backup 2>/dev/null || true
	rmdir /etc/kms11 2>/dev/null || true
	if [ -d /var/lib/kms11 ]; then find /var/lib/kms11 -mindepth 1 -delete; fi
	gpasswd -d www-data kms11 >/dev/null 2>&1 || true
}
trap 'undo; rm -rf "$work"' EXIT
undo
cd "$work"
/usr/bin/python3 - "$readme" "$work/blocks" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read().splitlines()
out = sys.argv[2]
os.makedirs(out)
kind = name = None
i, n = 0, 0
with open(os.path.join(out, "index"), "w") as index:
    while i < len(text):
        m = re.match(r"^<!-- example: (installed-sh|installed-file) (\S+) -->$", text[i])
        if m:
            kind, name = m.groups()
        elif kind and text[i].startswith("```"):
            j = i + 1
            while not text[j].startswith("```"):
                j += 1
            n += 1
            with open(os.path.join(out, "%02d" % n), "w") as f:
                f.write("\n".join(text[i + 1:j]) + "\n")
            index.write("%02d %s %s\n" % (n, kind, name))
            kind, i = None, j
        i += 1
PY
block() { # block KIND NAME: the file holding that block
	awk -v k="$1" -v n="$2" '$2 == k && $3 == n {print $1}' "$work/blocks/index"
}
for f in /etc/kms11/openssl-nginx.cnf /etc/kms11/nginx-web.conf provider.cnf; do
	[ -n "$(block installed-file "$f")" ] || fail "README: no installed-file block for $f"
done
run_sh() { # run_sh NAME: the README's block, as written
	local b
	b=$(block installed-sh "$1")
	[ -n "$b" ] || { fail "README: no installed-sh block $1"; return 1; }
	bash -eo pipefail "$work/blocks/$b"
}
put_file() { # put_file PATH
	local b
	b=$(block installed-file "$1")
	cp "$work/blocks/$b" "$1"
}

# The system store, as the README says.
if KMS11_SO_PIN=12345678 KMS11_PIN=1234 run_sh system-store >"$work/system.log" 2>&1; then
	ok "README system store: runs as written"
else
	fail "README system store: $(tail -3 "$work/system.log")"
fi
[ "$(stat -c '%a %G' /var/lib/kms11/data.mdb)" = "660 kms11" ] && ok "... the store's files are 0660, group kms11" ||
	fail "... the store's files are not 0660 kms11: $(stat -c '%a %G' /var/lib/kms11/data.mdb)"
id -nG www-data | grep -qw kms11 && ok "... www-data is in group kms11" || fail "... www-data is not in group kms11"

# What the nginx section takes as given: the key, its certificate, the PIN file.
kms11 key create --algorithm ECDSA --size 256 --name web-ec --engine-id web --pin 1234 >/dev/null
openssl req -new -x509 -engine pkcs11 -keyform engine -key 'pkcs11:token=web;object=web-ec;type=private;pin-value=1234' \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost -days 2 -out /etc/ssl/certs/web.crt 2>/dev/null
printf '1234' >/etc/kms11/web.pin
chown www-data /etc/kms11/web.pin
chmod 0400 /etc/kms11/web.pin
put_file /etc/kms11/openssl-nginx.cnf
put_file /etc/kms11/nginx-web.conf
if run_sh nginx >"$work/nginx.log" 2>&1; then
	ok "README nginx: starts as written"
	for _ in $(seq 50); do
		(exec 3<>/dev/tcp/127.0.0.1/443) 2>/dev/null && break
		sleep 0.1
	done
	if curl -sS --max-time 10 --cacert /etc/ssl/certs/web.crt --resolve localhost:443:127.0.0.1 https://localhost/ \
		>"$work/page" 2>"$work/curl.err" && grep -q "served with a key held in kms11" "$work/page"; then
		ok "... curl verifies the certificate and reads the page"
	else
		fail "... curl: $(cat "$work/curl.err") $(tail -3 /var/log/nginx/error.log 2>/dev/null)"
	fi
	[ "$(ps -o user= -C nginx | sort -u | tr '\n' ' ')" = "root www-data " ] && ok "... the worker runs as www-data" ||
		fail "... nginx's processes: $(ps -o user=,args= -C nginx)"
	stop_nginx
else
	fail "README nginx: $(tail -3 "$work/nginx.log")"
fi

# pkcs11-provider, as the README says.
put_file provider.cnf
printf 'signed through pkcs11-provider' >msg
if run_sh provider >"$work/provider.log" 2>&1 &&
	kms11 key public-key web-ec | /usr/bin/python3 -c 'import base64,json,sys; sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)["public_key"]))' >pub.pem &&
	openssl dgst -sha256 -verify pub.pem -signature msg.sig msg >/dev/null; then
	ok "README pkcs11-provider: signs as written, and the signature verifies"
else
	fail "README pkcs11-provider: $(tail -3 "$work/provider.log")"
fi
# The configuration examples load as written.
put_file config-example.conf
if KMS11_CONF="$work/config-example.conf" kms11 token list >tokens.json 2>"$work/conf.err" &&
	[ "$(/usr/bin/python3 -c 'import json,sys; print([t["id"] for t in json.load(open(sys.argv[1]))["list"]])' tokens.json)" = "['signing', 'backup']" ]; then
	ok "README configuration example: loads, tokens signing and backup"
else
	fail "README configuration example: $(cat "$work/conf.err")"
fi
put_file legacy.conf
if KMS11_CONF="$work/legacy.conf" KMS11_STORE="$work/legacy-store" kms11 token list >tokens.json 2>"$work/conf.err" &&
	[ "$(/usr/bin/python3 -c 'import json,sys; print([t["id"] for t in json.load(open(sys.argv[1]))["list"]])' tokens.json)" = "['migrated']" ]; then
	ok "README legacy example: loads, token migrated"
else
	fail "README legacy example: $(cat "$work/conf.err")"
fi

# The backup, as the README says, and the copy checked.
if run_sh backup >"$work/backup.log" 2>&1 && kms11 store check --store /backup/kms11-2026-12-05 | grep -q '"ok": true'; then
	ok "README backup: mdb_copy runs as written, and kms11 store check finds the copy sound"
else
	fail "README backup: $(tail -3 "$work/backup.log")"
fi
echo "# README (installed): $passed ok, $failed not ok"
[ "$failed" -eq 0 ]
