#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# nginx (Debian's nginx-light) serving HTTPS on 127.0.0.1 from an ECDSA and then an RSA key held in kms11, the way
# the README's "nginx" section says: kms11 registered with p11-kit (libp11's engine then needs no module path), the
# system configuration naming a shared store of group kms11, the worker running as www-data in that group, the PIN
# in a file (pin-source), and an openssl.cnf that initialises libp11's engine. curl verifies the chain and reads
# the page. With the worker outside the group, nginx -t still passes but the handshake fails, and kms11's log says
# which file and which permission. It writes the build's system configuration and a p11-kit module config in
# /etc/pkcs11/modules (both removed at the end), so it runs alone.
. "$(dirname "$0")/common.sh"
kms_need nginx curl openssl ps groupadd
: "${KMS11_CLI:?KMS11_CLI must name the kms11 tool}"
K=("$KMS11_CLI")
[ "$(id -u)" -eq 0 ] || kms_die "this suite needs root (nginx's master, a worker as www-data)"
id www-data >/dev/null 2>&1 || kms_die "no www-data user"

# The kms11 group (the Debian package makes it too) and the shared store.
getent group kms11 >/dev/null || groupadd --system kms11 || kms_die "groupadd kms11"
chmod 0711 "$KMS_TMP"
S="$KMS_TMP/var/kms11"
mkdir -p "$S"
chmod 0755 "$KMS_TMP/var"
chgrp kms11 "$S"
chmod 2770 "$S"
# debug = 1: kms11's errors go to the standard error of the process, which is nginx's error log.
kms_system_config "$(printf '[kms11]\nstore = %s\ndebug = 1\n\n[token:web]\nengine = openssl\n' "$S")"
chmod 0644 "$KMS_SYSCONF"
# p11-kit's registration of the module (the package installs it in /usr/share/p11-kit/modules).
[ -e /etc/pkcs11/modules/kms11-test.module ] && kms_die "/etc/pkcs11/modules/kms11-test.module exists already"
for d in /etc/pkcs11 /etc/pkcs11/modules; do
	[ -d "$d" ] || { mkdir "$d" && KMS_UNDO+=("rmdir '$d' 2>/dev/null || true"); }
done
printf 'module: %s\n' "$KMS11_MODULE" >/etc/pkcs11/modules/kms11-test.module
KMS_UNDO+=("rm -f /etc/pkcs11/modules/kms11-test.module")
unset KMS11_CONF KMS11_STORE KMS11_PIN
umask 022

"${K[@]}" token init --label web --so-pin "$KMS_SO_PIN" --pin "$KMS_PIN" >/dev/null || kms_die "token init"
printf '%s' "$KMS_PIN" >"$KMS_TMP/web.pin"
chown www-data "$KMS_TMP/web.pin"
chmod 0400 "$KMS_TMP/web.pin"
# The openssl.cnf of nginx's master: libp11's engine, initialised (nginx does not initialise engines itself), with
# no module path (p11-kit's proxy finds kms11) and no PIN (the URI's pin-source gives it).
kms_engine_conf </dev/null
sed -e '/^MODULE_PATH = /d' -e '/^PIN = /d' -e 's/^init = 0$/init = 1/' "$OPENSSL_CONF" >"$KMS_TMP/openssl-nginx.cnf"
unset OPENSSL_CONF
# A test CA, whose certificates the keys get.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$KMS_TMP/ca.key" -subj /CN=kms11-test-CA \
	-days 2 -out "$KMS_TMP/ca.crt" 2>/dev/null || kms_die "test CA"
port=$(kms_free_port)
mkdir -p "$KMS_TMP/ngx/logs" "$KMS_TMP/ngx/tmp"

# serve NAME ALG [SIZE] [USER]: a kms11 key NAME, its certificate (CSR signed by the key through libp11), nginx on
# it with the worker as USER (default "www-data kms11"); leaves the server running.
serve() {
	local name=$1 alg=$2 size=$3 user=${4:-www-data kms11}
	"${K[@]}" key create --algorithm "$alg" --size "$size" --name "$name" --pin "$KMS_PIN" >/dev/null || kms_die "key create $name"
	OPENSSL_CONF="$KMS_TMP/openssl-nginx.cnf" openssl req -new -engine pkcs11 -keyform engine \
		-key "pkcs11:token=web;object=$name;type=private;pin-value=$KMS_PIN" -subj /CN=localhost \
		-addext subjectAltName=DNS:localhost -out "$KMS_TMP/$name.csr" 2>"$KMS_TMP/req.err" || { cat "$KMS_TMP/req.err"; kms_die "CSR of $name"; }
	openssl x509 -req -in "$KMS_TMP/$name.csr" -CA "$KMS_TMP/ca.crt" -CAkey "$KMS_TMP/ca.key" -CAcreateserial -days 2 \
		-copy_extensions copy -out "$KMS_TMP/$name.crt" 2>/dev/null || kms_die "certificate of $name"
	chmod 0644 "$KMS_TMP/$name.crt"
	cat >"$KMS_TMP/ngx/nginx.conf" <<CONF
user $user;
worker_processes 1;
pid $KMS_TMP/ngx/nginx.pid;
error_log $KMS_TMP/ngx/logs/error.log info;
events {}
http {
    access_log off;
    client_body_temp_path $KMS_TMP/ngx/tmp/body;
    proxy_temp_path $KMS_TMP/ngx/tmp/proxy;
    fastcgi_temp_path $KMS_TMP/ngx/tmp/fastcgi;
    uwsgi_temp_path $KMS_TMP/ngx/tmp/uwsgi;
    scgi_temp_path $KMS_TMP/ngx/tmp/scgi;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $KMS_TMP/$name.crt;
        ssl_certificate_key "engine:pkcs11:pkcs11:token=web;object=$name;type=private;pin-source=file:$KMS_TMP/web.pin";
        location / { return 200 "hello from kms11 ($name)\n"; }
    }
}
CONF
	kms_run "nginx -t with the $name key" env OPENSSL_CONF="$KMS_TMP/openssl-nginx.cnf" nginx -t -c "$KMS_TMP/ngx/nginx.conf" -p "$KMS_TMP/ngx"
	OPENSSL_CONF="$KMS_TMP/openssl-nginx.cnf" nginx -c "$KMS_TMP/ngx/nginx.conf" -p "$KMS_TMP/ngx" -g 'daemon off;' &
	ngx_pid=$!
	KMS_PIDS+=("$ngx_pid")
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
}

stop_nginx() {
	kill "$ngx_pid" 2>/dev/null
	wait "$ngx_pid" 2>/dev/null || true
}

# get: curl through the test CA (the chain verified), the page in $KMS_TMP/page.
get() {
	curl -sS --max-time 10 --cacert "$KMS_TMP/ca.crt" --resolve "localhost:$port:127.0.0.1" "https://localhost:$port/" \
		>"$KMS_TMP/page" 2>"$KMS_TMP/curl.err"
}

serve web-ec ECDSA 256
kms_check "curl verifies the chain and reads the page (ECDSA P-256 key in kms11)" get
kms_check "... the page" grep -qx "hello from kms11 (web-ec)" "$KMS_TMP/page"
kms_check "a second request, on the same worker" get
kms_check "the worker runs as www-data" [ "$(ps -o user= --ppid "$ngx_pid" | sort -u | tr -d ' ')" = www-data ]
stop_nginx

serve web-rsa RSA 2048
kms_check "curl verifies the chain and reads the page (RSA-2048 key in kms11)" get
kms_check "... the page" grep -qx "hello from kms11 (web-rsa)" "$KMS_TMP/page"
stop_nginx

# The trap of a worker outside the store's group: nginx -t (the master, root) passes, the handshake fails (libp11
# 0.4.12 then waits in the worker rather than failing the handshake: curl gives up), and kms11's line in nginx's
# error log names the file and the permission.
serve web-trap ECDSA 256 www-data
kms_check "with the worker outside group kms11 the handshake fails" bash -c "! curl -sS --max-time 4 --cacert '$KMS_TMP/ca.crt' \
	--resolve 'localhost:$port:127.0.0.1' 'https://localhost:$port/' >/dev/null 2>&1"
kms_check "... and kms11's line in nginx's error log says which file and which permission" \
	grep -q "store: $S: permission denied: this process (uid $(id -u www-data), gid $(id -g www-data))" "$KMS_TMP/ngx/logs/error.log"
# nginx's master waits for the stuck worker a while before it kills it.
kill -9 $(ps -o pid= --ppid "$ngx_pid") 2>/dev/null || true
stop_nginx
kms_finish
