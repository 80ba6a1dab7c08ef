# SPDX-License-Identifier: Apache-2.0
# Shared helpers of the interop suites: a fresh store, the module path, token init, checks and cleanup.
#
# Source it from a suite: `. "$(dirname "$0")/common.sh"`. It sets:
#   KMS11_MODULE  the module under test (from the environment; required)
#   KMS_TMP       a private temporary directory, removed on exit
#   KMS11_STORE   a fresh store directory inside KMS_TMP
#   P11           pkcs11-tool with the module and the token selected (an array)
# For validating the scripts against SoftHSMv2, set KMS11_TEST_BACKEND=softhsm; CI always tests kms11.

set -euo pipefail

KMS_SO_PIN=12345678
KMS_PIN=1234
KMS_LABEL=kms11
KMS_PASSED=0
KMS_FAILED=0
KMS_PIDS=()
KMS_UNDO=()

kms_die() {
	echo "FAIL: $*" >&2
	exit 1
}

kms_cleanup() {
	local rc=$?
	local pid undo
	for pid in "${KMS_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	# What a suite changed outside its directory, undone in reverse order.
	for ((undo = ${#KMS_UNDO[@]} - 1; undo >= 0; undo--)); do
		eval "${KMS_UNDO[undo]}" || true
	done
	if [ -n "${KMS11_KEEP_TMP:-}" ]; then
		echo "# kept $KMS_TMP" >&2
	elif [ -n "${KMS_TMP:-}" ] && [ -d "$KMS_TMP" ]; then
		rm -rf -- "$KMS_TMP"
	fi
	exit "$rc"
}
trap kms_cleanup EXIT

# A missing client is a failure, never a skip.
kms_need() {
	local b
	for b in "$@"; do
		command -v "$b" >/dev/null 2>&1 ||
			kms_die "required client '$b' is not installed (see .ci/run for the packages)"
	done
}

KMS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kms11-interop.XXXXXX")
export KMS11_STORE="$KMS_TMP/store"

if [ "${KMS11_TEST_BACKEND:-kms11}" = softhsm ]; then
	KMS11_MODULE=/usr/lib/softhsm/libsofthsm2.so
	mkdir -p "$KMS_TMP/softhsm"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$KMS_TMP/softhsm" \
		>"$KMS_TMP/softhsm2.conf"
	export SOFTHSM2_CONF="$KMS_TMP/softhsm2.conf"
fi
# kms_softhsm_backend: a SoftHSMv2 token "kms11-backend" (user PIN $KMS_PIN) in a private configuration and token
# directory, and a kms11 configuration whose token $KMS_LABEL keeps its keys there (the pkcs11 engine).
kms_softhsm_backend() {
	kms_need softhsm2-util
	[ -f /usr/lib/softhsm/libsofthsm2.so ] || kms_die "SoftHSMv2 (package softhsm2) is not installed"
	mkdir -p "$KMS_TMP/backend"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$KMS_TMP/backend" \
		>"$KMS_TMP/backend.conf"
	export SOFTHSM2_CONF="$KMS_TMP/backend.conf"
	softhsm2-util --init-token --free --label kms11-backend --pin "$KMS_PIN" --so-pin "$KMS_SO_PIN" \
		>"$KMS_TMP/backend.log" 2>&1 || { cat "$KMS_TMP/backend.log" >&2; kms_die "softhsm2-util --init-token failed"; }
	printf '[token:%s]\nengine = pkcs11\nlibrary = /usr/lib/softhsm/libsofthsm2.so\nbackend-token = kms11-backend\n' \
		"$KMS_LABEL" >"$KMS_TMP/kms11.conf"
	export KMS11_CONF="$KMS_TMP/kms11.conf"
}

# KMS11_TEST_ENGINE=pkcs11: the same suite on a kms11 token whose keys live in a SoftHSMv2 token.
if [ "${KMS11_TEST_ENGINE:-openssl}" = pkcs11 ]; then
	kms_softhsm_backend
fi
: "${KMS11_MODULE:?KMS11_MODULE must name the module under test (libkms11.so)}"
[ -f "$KMS11_MODULE" ] || kms_die "module $KMS11_MODULE does not exist"
export KMS11_MODULE

P11=(pkcs11-tool --module "$KMS11_MODULE")
P11T=(pkcs11-tool --module "$KMS11_MODULE" --token-label "$KMS_LABEL")

# Records one passing check.
kms_ok() {
	KMS_PASSED=$((KMS_PASSED + 1))
	echo "ok - $*"
}

# Records one failing check and carries on; the suite fails at the end.
kms_fail() {
	KMS_FAILED=$((KMS_FAILED + 1))
	echo "not ok - $*"
}

# kms_run DESC CMD...: runs CMD with its output in $KMS_TMP/last.log; a pass or a fail with the output.
kms_run() {
	local desc=$1
	shift
	local rc=0
	"$@" >"$KMS_TMP/last.log" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ]; then
		kms_ok "$desc"
		return 0
	fi
	kms_fail "$desc (exit $rc): $*"
	sed 's/^/    | /' "$KMS_TMP/last.log" | tail -n 30
	return 1
}

# kms_try CMD...: runs CMD for its side effect, with the output in last.log; no record.
kms_try() {
	"$@" >"$KMS_TMP/last.log" 2>&1
}

# kms_check DESC COND...: records the result of a test command (no output shown).
kms_check() {
	local desc=$1
	shift
	if "$@"; then
		kms_ok "$desc"
	else
		kms_fail "$desc"
	fi
}

# Initialises the token (label kms11, SO PIN, user PIN) as a person would with pkcs11-tool.
kms_token_init() {
	kms_need pkcs11-tool
	"${P11[@]}" --init-token --label "$KMS_LABEL" --so-pin "$KMS_SO_PIN" >"$KMS_TMP/init.log" 2>&1 ||
		{ cat "$KMS_TMP/init.log" >&2; kms_die "pkcs11-tool --init-token failed"; }
	"${P11T[@]}" --login --login-type so --so-pin "$KMS_SO_PIN" --init-pin --pin "$KMS_PIN" \
		>>"$KMS_TMP/init.log" 2>&1 ||
		{ cat "$KMS_TMP/init.log" >&2; kms_die "pkcs11-tool --init-pin failed"; }
}

# Ends the suite: prints the count and exits non-zero on any failure.
kms_finish() {
	echo "# checks: $KMS_PASSED ok, $KMS_FAILED not ok"
	[ "$KMS_FAILED" -eq 0 ] && [ "$KMS_PASSED" -gt 0 ]
}

# Writes $KMS_TMP/openssl.cnf loading libp11's engine with the module and the user PIN, and exports
# OPENSSL_CONF; extra lines (a [req] section, ...) come from standard input when it is not a terminal.
kms_engine_conf() {
	local engine
	engine=$(find /usr/lib /usr/lib64 /usr/local/lib -name pkcs11.so -path '*engines*' 2>/dev/null | head -n 1 || true)
	[ -n "$engine" ] ||
		kms_die "libp11's OpenSSL engine (pkcs11.so) is not installed (package libengine-pkcs11-openssl)"
	cat >"$KMS_TMP/openssl.cnf" <<CNF
openssl_conf = openssl_init

[openssl_init]
engines = engine_section

[engine_section]
pkcs11 = pkcs11_section

[pkcs11_section]
engine_id = pkcs11
dynamic_path = $engine
MODULE_PATH = $KMS11_MODULE
PIN = $KMS_PIN
init = 0
CNF
	[ -t 0 ] || cat >>"$KMS_TMP/openssl.cnf"
	export OPENSSL_CONF="$KMS_TMP/openssl.cnf"
}

# kms_json FILE EXPR: prints a Python expression over the JSON document d in FILE.
kms_json() {
	/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# kms_expect CODE DESC CMD...: records whether CMD exits with CODE; its stdout goes to $KMS_TMP/out.json, its
# stderr to $KMS_TMP/err.json (shown when the exit code differs).
kms_expect() {
	local want=$1 desc=$2 rc=0
	shift 2
	"$@" >"$KMS_TMP/out.json" 2>"$KMS_TMP/err.json" </dev/null || rc=$?
	if [ "$rc" -eq "$want" ]; then
		kms_ok "$desc (exit $rc)"
	else
		kms_fail "$desc: exit $rc, expected $want: $(head -c 400 "$KMS_TMP/err.json")"
	fi
}

# A free TCP port on 127.0.0.1.
kms_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# kms_system_config TEXT: writes TEXT as the build's system configuration (sysconfdir/kms11/kms11.conf, read by
# every process without KMS11_CONF), removed when the suite ends; a suite that calls it must run alone
# (is_parallel false). Refuses to overwrite a configuration that is there already. Sets KMS_SYSCONF.
kms_system_config() {
	: "${BUILDDIR:?BUILDDIR must name the build directory}"
	KMS_SYSCONF=$(meson introspect --buildoptions "$BUILDDIR" | /usr/bin/python3 -c 'import json, os.path, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(os.path.join(o["prefix"], o["sysconfdir"], "kms11", "kms11.conf"))')
	[ -e "$KMS_SYSCONF" ] && kms_die "a system configuration exists at $KMS_SYSCONF: this suite writes there; move it away first"
	if [ ! -d "$(dirname "$KMS_SYSCONF")" ]; then
		mkdir -p "$(dirname "$KMS_SYSCONF")"
		KMS_UNDO+=("rmdir '$(dirname "$KMS_SYSCONF")' 2>/dev/null || true")
	fi
	printf '%s' "$1" >"$KMS_SYSCONF"
	KMS_UNDO+=("rm -f '$KMS_SYSCONF'")
}
