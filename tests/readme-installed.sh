#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# CI only, as root, with the Debian packages installed: the README's examples that name installed paths run as
# written. tests/readme-blocks.py takes them out of README.md: a block marked "installed-file PATH" is written to
# PATH (relative paths in a directory of the run's own), one marked "installed-sh NAME" runs with bash -e there, and
# the sample marked "output store-refused" is compared with what kms11 prints. In order: the system store and the
# sample line of a process it refuses; then, prepared here (the README names them as what the reader has), a key
# web-ec, its certificate and the daemon's PIN file; nginx started as the README says, read by curl through the
# certificate; a signature through pkcs11-provider, verified, and a TLS server on the key; the token through
# p11-kit's server and client; SunPKCS11's key store; the configuration examples loaded and the HSM one used; the
# backup taken and checked. It changes the system (/etc/kms11, /var/lib/kms11, /etc/ssl/certs/web.crt,
# /var/log/kms11.log, /backup/kms11-2026-12-05, /run/kms11-web.sock, www-data's groups, an nginx on port 443) and
# undoes it all at the end, and before it starts.
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
	pkill -f "p11-kit server -n /run/kms11-web.sock" 2>/dev/null || true
	[ -z "${server_pgid:-}" ] || kill -- "-$server_pgid" 2>/dev/null || true
	rm -f /etc/kms11/kms11.conf /etc/kms11/openssl-nginx.cnf /etc/kms11/nginx-web.conf /etc/kms11/web.pin \
		/etc/kms11/hsm.pin /run/kms11-web.sock \
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
/usr/bin/python3 "$(dirname "$readme")/tests/readme-blocks.py" "$readme" "$work/blocks"
block() { # block KIND NAME: the file holding that block
	awk -v k="$1" -v n="$2" '$2 == k && $3 == n {print $1}' "$work/blocks/index"
}
for f in /etc/kms11/openssl-nginx.cnf /etc/kms11/nginx-web.conf provider.cnf kms11.cfg hsm.conf; do
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

# The sample line of a refused process, as kms11 prints it (numbers apart): the README's ends in "(...)".
sample=$(block output store-refused)
setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=/nonexistent KMS11_DEBUG=0 kms11 token list \
	>/dev/null 2>"$work/refused.err" || true
norm() { sed -e 's/[0-9][0-9]*/N/g' -e 's/ (\.\.\.)$//'; }
want=$(norm <"$work/blocks/$sample")
got=$(grep -m1 ': ERROR: store: ' "$work/refused.err" | norm || true)
if [ -n "$want" ] && [ "${got#"$want"}" != "$got" ]; then
	ok "README's sample line of a refused process is what kms11 prints"
else
	fail "README's sample line: kms11 printed: $(cat "$work/refused.err")"
fi

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
# The TLS server on the same key, as written, until a verified handshake.
# s_server ends at the end of its standard input: it reads a pipe this script holds open.
mkfifo "$work/s_server.in"
exec 4<>"$work/s_server.in"
setsid bash -eo pipefail "$work/blocks/$(block installed-sh provider-server)" <"$work/s_server.in" >"$work/s_server.log" 2>&1 &
server_pgid=$!
for _ in $(seq 100); do
	(exec 3<>/dev/tcp/127.0.0.1/4433) 2>/dev/null && break
	sleep 0.1
done
if timeout 20 openssl s_client -connect 127.0.0.1:4433 -servername localhost -CAfile /etc/ssl/certs/web.crt \
	-verify_return_error </dev/null >"$work/s_client.log" 2>&1 && grep -q "Verify return code: 0 (ok)" "$work/s_client.log"; then
	ok "README pkcs11-provider: s_server serves TLS from the key, and s_client verifies it"
else
	fail "README s_server: $(tail -3 "$work/s_server.log") / $(grep -i -m2 'error\|verify' "$work/s_client.log")"
fi
kill -- "-$server_pgid" 2>/dev/null || true
wait "$server_pgid" 2>/dev/null || true
server_pgid=
exec 4>&-

# p11-kit remoting, as written: the token through the client, and the server gone at the end.
if timeout 60 bash -eo pipefail "$work/blocks/$(block installed-sh p11kit-remote)" </dev/null >"$work/remote.log" 2>&1 &&
	grep -q "token label *: web$" "$work/remote.log"; then
	ok "README p11-kit remoting: p11-kit-client.so lists the token web through the server"
else
	fail "README p11-kit remoting: $(tail -5 "$work/remote.log")"
fi
sleep 0.5
if ! pgrep -f "p11-kit server -n /run/kms11-web.sock" >/dev/null && [ ! -e /run/kms11-web.sock ]; then
	ok "... and p11-kit server --kill ends it"
else
	fail "... the p11-kit server still runs"
fi

# SunPKCS11, as written: keytool shows the key pair the block made with its certificate.
put_file kms11.cfg
if timeout 120 bash -eo pipefail "$work/blocks/$(block installed-sh java)" </dev/null >"$work/java.log" 2>&1 &&
	grep -q "^java, PrivateKeyEntry" "$work/java.log"; then
	ok "README SunPKCS11: keytool -list shows java as a key pair with its certificate"
else
	fail "README SunPKCS11: $(tail -5 "$work/java.log")"
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

# The HSM token's section, as written, on a SoftHSMv2 token whose PIN (5678) is not the kms11 token's (1234): keys
# are made only if backend-pin-file is read.
put_file hsm.conf
printf 'directories.tokendir = %s/softhsm\n' "$work" >"$work/softhsm2.conf"
mkdir "$work/softhsm"
printf '5678' >/etc/kms11/hsm.pin
chmod 0600 /etc/kms11/hsm.pin
H=(env SOFTHSM2_CONF="$work/softhsm2.conf" KMS11_CONF="$work/hsm.conf" KMS11_STORE="$work/hsm-store")
if "${H[@]}" softhsm2-util --init-token --free --label kms11-backend --pin 5678 --so-pin 12345678 >/dev/null &&
	"${H[@]}" KMS11_SO_PIN=12345678 KMS11_PIN=1234 kms11 token init --engine-id hsm --label hsm >/dev/null 2>"$work/hsm.err" &&
	"${H[@]}" kms11 key create --algorithm ECDSA --size 256 --name in-hsm --engine-id hsm --pin 1234 >/dev/null 2>>"$work/hsm.err" &&
	"${H[@]}" pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label kms11-backend --login --pin 5678 -O \
		--type privkey >"$work/backend.txt" 2>>"$work/hsm.err" && grep -q "label: *kms11-" "$work/backend.txt"; then
	ok "README HSM section: loads as written, and the key is made in SoftHSMv2 with the PIN from backend-pin-file"
else
	fail "README HSM section: $(tail -3 "$work/hsm.err")"
fi

# The backup, as the README says, and the copy checked.
if run_sh backup >"$work/backup.log" 2>&1 && kms11 store check --store /backup/kms11-2026-12-05 | grep -q '"ok": true'; then
	ok "README backup: mdb_copy runs as written, and kms11 store check finds the copy sound"
else
	fail "README backup: $(tail -3 "$work/backup.log")"
fi
echo "# README (installed): $passed ok, $failed not ok"
[ "$failed" -eq 0 ]
