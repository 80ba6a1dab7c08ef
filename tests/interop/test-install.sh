#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# meson install with DESTDIR puts every file where its ecosystem looks: the module in p11-kit's module directory
# with a p11-kit registration that p11-kit, p11tool and libp11 (through p11-kit-proxy, no module path) use; the
# CLI; kms11.h with a kms11.pc a program compiles against; man pages that render cleanly and name every command;
# the example configuration, which the module accepts as it is; the bash completion, which completes verbs and
# options.
. "$(dirname "$0")/common.sh"
kms_need meson p11-kit p11tool pkcs11-tool openssl pkg-config cc man setpriv
: "${BUILDDIR:?BUILDDIR must name the build directory}"
D="$KMS_TMP/dest"
meson install -C "$BUILDDIR" --no-rebuild --destdir "$D" >"$KMS_TMP/install.log" 2>&1 ||
	{ cat "$KMS_TMP/install.log" >&2; kms_die "meson install --destdir failed"; }
prefix=$(meson introspect --buildoptions "$BUILDDIR" | /usr/bin/python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')
modpath=$(pkg-config --define-variable=prefix="$prefix" --variable=p11_module_path p11-kit-1)
confdir=$(pkg-config --define-variable=prefix="$prefix" --variable=p11_module_configs p11-kit-1)

kms_check "libkms11.so in p11-kit's module directory ($modpath)" [ -f "$D$modpath/libkms11.so" ]
kms_check "kms11.module in p11-kit's module config directory ($confdir)" [ -f "$D$confdir/kms11.module" ]
kms_check "... naming the installed module" grep -qx "module: $modpath/libkms11.so" "$D$confdir/kms11.module"
kms_check "the CLI in bindir" [ -x "$D$prefix/bin/kms11" ]
kms_check "kms11.h" [ -f "$D$prefix/include/kms11.h" ]
pc=$(find "$D" -name kms11.pc)
kms_check "kms11.pc" [ -n "$pc" ]
for m in man1/kms11.1 man5/kms11.conf.5 man8/libkms11.8; do
	kms_check "man page $m" [ -f "$D$prefix/share/man/$m" ]
	MANWIDTH=80 man --warnings -l "$D$prefix/share/man/$m" >/dev/null 2>"$KMS_TMP/man.err"
	kms_check "... renders without a warning" [ ! -s "$KMS_TMP/man.err" ]
done
kms_check "the example configuration" [ -f "$D$prefix/share/doc/kms11/examples/kms11.conf.example" ]
comp=$(find "$D" -path '*bash-completion/completions/kms11')
kms_check "the bash completion" [ -n "$comp" ]

# kms11(1) names every command of the CLI.
"$D$prefix/bin/kms11" --help 2>&1 | awk 'NR > 1 && /^  [a-z]/' >"$KMS_TMP/cmds"
missing=0
while read -r w1 w2 _; do
	if "$D$prefix/bin/kms11" "$w1" --help 2>/dev/null | grep -q "^usage: kms11 $w1 "; then cmd="kms11 $w1"; else cmd="kms11 $w1 $w2"; fi
	grep -q "^\.SS $(printf '%s' "$cmd" | sed 's/-/\\\\-/g') " "$D$prefix/share/man/man1/kms11.1" || { missing=$((missing + 1)); echo "# not in kms11(1): $cmd"; }
done <"$KMS_TMP/cmds"
kms_check "kms11(1) has a section for each of the $(wc -l <"$KMS_TMP/cmds") commands" [ "$missing" -eq 0 ]
"$D$prefix/bin/kms11" key create --help >"$KMS_TMP/create.help"
kms_check "... and every option of key create" /usr/bin/python3 - "$KMS_TMP/create.help" "$D$prefix/share/man/man1/kms11.1" <<'PY'
import re, sys
opts = re.findall(r"^  (--[a-z-]+)", open(sys.argv[1]).read(), re.M)
page = open(sys.argv[2]).read()
missing = [o for o in opts if ".B " + o.replace("-", "\\-") not in page]
print("# options:", len(opts), "missing:", missing)
sys.exit(1 if missing or len(opts) < 10 else 0)
PY

# A program compiles against kms11.h with the flags kms11.pc gives.
cat >"$KMS_TMP/use.c" <<'C'
#include <kms11.h>
#include <stdio.h>
int main(void) { printf("%lx\n", (unsigned long)CKA_KMS11_TAGS); return 0; }
C
flags=$(PKG_CONFIG_SYSROOT_DIR="$D" PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --cflags kms11)
kms_check "kms11.pc gives the flags kms11.h needs" cc $flags -o "$KMS_TMP/use" "$KMS_TMP/use.c"
kms_check "... and the program runs" "$KMS_TMP/use"

# The example configuration is accepted as it is (its store pointed at a directory of the test's).
export HOME="$KMS_TMP/home" KMS11_STORE="$KMS_TMP/store"
mkdir -p "$HOME"
KMS11_CONF="$D$prefix/share/doc/kms11/examples/kms11.conf.example" "$D$prefix/bin/kms11" token list >"$KMS_TMP/tl.json" \
	2>"$KMS_TMP/tl.err"
kms_check "the example configuration loads: token web" [ "$(kms_json "$KMS_TMP/tl.json" '[t["id"] for t in d["list"]]')" = "['web']" ]

# p11-kit finds the module through its registration: the installed kms11.module, as a user's module config
# (p11-kit reads ~/.config/pkcs11/modules, though not for root: these run as nobody), with the module path under
# DESTDIR.
chmod 0711 "$KMS_TMP"
N=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$KMS_TMP/nhome" KMS11_STORE="$KMS_TMP/nstore")
mkdir -p "$KMS_TMP/nhome/.config/pkcs11/modules" "$KMS_TMP/nstore"
sed "s|^module: |module: $D|" "$D$confdir/kms11.module" >"$KMS_TMP/nhome/.config/pkcs11/modules/kms11.module"
chown -R 65534:65534 "$KMS_TMP/nhome" "$KMS_TMP/nstore"
"${N[@]}" "$D$prefix/bin/kms11" token init --label reg --so-pin "$KMS_SO_PIN" --pin "$KMS_PIN" >/dev/null || kms_die "token init"
kms_run "p11-kit list-modules" "${N[@]}" p11-kit list-modules
kms_check "... lists kms11 with its token" grep -q "token: reg" "$KMS_TMP/last.log"
kms_run "p11tool --list-tokens, no --provider" "${N[@]}" p11tool --list-tokens
kms_check "... shows the kms11 token" grep -q "token=reg" "$KMS_TMP/last.log"
"${N[@]}" "$D$prefix/bin/kms11" key create --algorithm ECDSA --name registered --pin "$KMS_PIN" >/dev/null || kms_die "key create"
printf 'through p11-kit-proxy' >"$KMS_TMP/msg"
openssl dgst -sha256 -binary "$KMS_TMP/msg" >"$KMS_TMP/msg.sha256"
chmod 0644 "$KMS_TMP/msg.sha256"
kms_run "openssl with libp11, no MODULE_PATH (p11-kit-proxy), signs" "${N[@]}" openssl pkeyutl -engine pkcs11 -keyform engine \
	-sign -inkey "pkcs11:token=reg;object=registered;type=private;pin-value=$KMS_PIN" -in "$KMS_TMP/msg.sha256" \
	-out "$KMS_TMP/nhome/sig"
"${N[@]}" "$D$prefix/bin/kms11" key public-key registered >"$KMS_TMP/pub.json"
kms_json "$KMS_TMP/pub.json" 'd["public_key"]' | base64 -d >"$KMS_TMP/pub.pem"
kms_run "openssl verifies that signature" openssl pkeyutl -verify -pubin -inkey "$KMS_TMP/pub.pem" \
	-in "$KMS_TMP/msg.sha256" -sigfile "$KMS_TMP/nhome/sig"

# A user who never used kms11 (no configuration, no KMS11_STORE), with the registration: p11-kit's programs load the
# module, which shows an uninitialised token and makes no store in the user's home.
F=(setpriv --reuid=65534 --regid=65534 --clear-groups env -u KMS11_STORE -u KMS11_CONF -u XDG_DATA_HOME HOME="$KMS_TMP/nhome")
kms_run "p11-kit list-modules, no configuration and no store" "${F[@]}" p11-kit list-modules
kms_check "... shows kms11's uninitialised token" grep -q "token: kms11" "$KMS_TMP/last.log"
kms_run "p11tool --list-tokens, no configuration and no store" "${F[@]}" p11tool --list-tokens
kms_check "... and neither made a store in the user's home" [ ! -e "$KMS_TMP/nhome/.local/share/kms11" ]

# The bash completion completes verbs and the options of a verb.
if [ -f /usr/share/bash-completion/bash_completion ]; then
	got=$(PATH="$D$prefix/bin:$PATH" bash -c ". /usr/share/bash-completion/bash_completion; . '$comp'
COMP_WORDS=(kms11 key cre); COMP_CWORD=2; COMP_LINE='kms11 key cre'; COMP_POINT=\${#COMP_LINE}; _kms11; echo \"\${COMPREPLY[*]}\"
COMP_WORDS=(kms11 key create --alg); COMP_CWORD=3; COMP_LINE='kms11 key create --alg'; COMP_POINT=\${#COMP_LINE}; _kms11; echo \"\${COMPREPLY[*]}\"
COMP_WORDS=(kms11 main); COMP_CWORD=1; COMP_LINE='kms11 main'; COMP_POINT=\${#COMP_LINE}; _kms11; echo \"\${COMPREPLY[*]}\"")
	kms_check "completion: kms11 key cre -> create; --alg -> --algorithm; main -> maintain" \
		[ "$got" = "$(printf 'create\n--algorithm\nmaintain')" ]
else
	kms_fail "bash-completion (package bash-completion) is not installed"
fi
kms_finish
