#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A system store shared by administrators and a daemon: the system configuration (read when KMS11_CONF is unset)
# names a group-owned store directory (g+rwxs); its files are made mode 0660 whatever the umask, so root and the
# daemon's user (www-data, in the store's group) both make and use keys; the daemon gets its PIN from a file
# (pin-source in the key's URI, for libp11); a process outside the group is refused, with a log line naming the
# file, its mode, owner and group and the process's ids, and C_Initialize answers CKR_GENERAL_ERROR.
# It writes the build's system configuration file (removed at the end), so it runs alone.
. "$(dirname "$0")/common.sh"
kms_need meson setpriv pkcs11-tool openssl stat
: "${KMS11_CLI:?KMS11_CLI must name the kms11 tool}"
K=("$KMS11_CLI")
PY=/usr/bin/python3
[ "$(id -u)" -eq 0 ] || kms_die "this suite needs root (it runs processes as www-data)"
id www-data >/dev/null 2>&1 || kms_die "no www-data user"
G=4242 # the store's group: a number of no group, so that nothing in /etc/group changes
chmod 0711 "$KMS_TMP"
S="$KMS_TMP/var/kms11"
mkdir -p "$S"
chmod 0755 "$KMS_TMP/var"
chgrp "$G" "$S"
chmod 2770 "$S"
kms_system_config "$(printf '[kms11]\nstore = %s\n\n[token:sys]\nengine = openssl\n' "$S")"
sysconf=$KMS_SYSCONF
chgrp "$G" "$sysconf"
chmod 0640 "$sysconf"
unset KMS11_CONF KMS11_STORE KMS11_PIN

# As root (umask 022): the system configuration is read, and the store's files are made 0660.
umask 022
kms_expect 0 "kms11 token init, KMS11_CONF unset" "${K[@]}" token init --label sys --so-pin "$KMS_SO_PIN" --pin "$KMS_PIN"
kms_expect 0 "token list" "${K[@]}" token list
kms_check "shows the system configuration's token" [ "$(kms_json "$KMS_TMP/out.json" '[t["id"] for t in d["list"]]')" = "['sys']" ]
kms_check "data.mdb and lock.mdb are mode 0660, group $G, despite umask 022" \
	[ "$(stat -c '%a %g' "$S/data.mdb" "$S/lock.mdb" | sort -u)" = "660 $G" ]

# As www-data in the store's group: the daemon makes and uses keys.
W=(setpriv --reuid=www-data --regid=www-data --groups="$G" env HOME=/nonexistent)
kms_expect 0 "www-data (in group $G) creates a key" "${W[@]}" "${K[@]}" key create --algorithm ECDSA --name daemon-key \
	--pin "$KMS_PIN"
kms_expect 0 "root sees it" "${K[@]}" key get daemon-key
kms_run "pkcs11-tool as www-data lists the token" "${W[@]}" pkcs11-tool --module "$KMS11_MODULE" -L
kms_check "... sys" grep -q "token label *: sys" "$KMS_TMP/last.log"
kms_check "files the daemon wrote are still 0660" [ "$(stat -c '%a %g' "$S/data.mdb" "$S/lock.mdb" | sort -u)" = "660 $G" ]

# The daemon's PIN in a file (libp11's pin-source), readable by it only.
printf '%s' "$KMS_PIN" >"$KMS_TMP/var/daemon.pin"
chown www-data "$KMS_TMP/var/daemon.pin"
chmod 0400 "$KMS_TMP/var/daemon.pin"
printf 'signed by the daemon' | openssl dgst -sha256 -binary >"$KMS_TMP/var/digest"
chmod 0644 "$KMS_TMP/var/digest"
mkdir -p "$KMS_TMP/var/out"
chown www-data "$KMS_TMP/var/out"
# libp11's engine with the module named and no PIN: the URI's pin-source gives it.
kms_engine_conf </dev/null
sed -i '/^PIN = /d' "$OPENSSL_CONF"
chmod 0644 "$OPENSSL_CONF"
W+=(OPENSSL_CONF="$OPENSSL_CONF")
kms_run "openssl (libp11) as www-data signs with pin-source=file:" "${W[@]}" openssl pkeyutl -engine pkcs11 -keyform engine \
	-sign -inkey "pkcs11:token=sys;object=daemon-key;type=private;pin-source=file:$KMS_TMP/var/daemon.pin" \
	-in "$KMS_TMP/var/digest" -out "$KMS_TMP/var/out/sig"
"${K[@]}" key public-key daemon-key >"$KMS_TMP/pub.json"
kms_json "$KMS_TMP/pub.json" 'd["public_key"]' | base64 -d >"$KMS_TMP/pub.pem"
kms_run "openssl verifies the daemon's signature" openssl pkeyutl -verify -pubin -inkey "$KMS_TMP/pub.pem" \
	-in "$KMS_TMP/var/digest" -sigfile "$KMS_TMP/var/out/sig"

# Outside the group: refused, saying which file and which permission.
O=(setpriv --reuid=www-data --regid=www-data --clear-groups env HOME=/nonexistent KMS11_DEBUG=1)
kms_expect 1 "www-data outside group $G: kms11 token list" "${O[@]}" "${K[@]}" token list
kms_check "... names the configuration file, its mode, owner and group, and the process's ids" \
	grep -q "cannot open $sysconf: permission denied: this process (uid 33, gid 33) needs to read it; it is mode 0640, owner uid 0, group gid $G" \
	"$KMS_TMP/err.json"
chmod 0644 "$sysconf"
kms_expect 1 "with the configuration readable: kms11 token list" "${O[@]}" "${K[@]}" token list
kms_check "... the log names the store directory, its mode and group" \
	grep -q "store: $S: permission denied: this process (uid 33, gid 33) needs to enter and write in it; it is mode 2770, owner uid 0, group gid $G" \
	"$KMS_TMP/err.json"
kms_check "C_Initialize answers CKR_GENERAL_ERROR (PyKCS11 as www-data outside the group)" \
	[ "$("${O[@]}" $PY -c 'import sys, PyKCS11
try:
    PyKCS11.PyKCS11Lib().load(sys.argv[1]); print("loaded")
except PyKCS11.PyKCS11Error as e:
    print(hex(e.value))' "$KMS11_MODULE" 2>/dev/null)" = 0x5 ]
kms_finish
