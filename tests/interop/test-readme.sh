#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The README's examples run exactly as written: each fenced block after a line "<!-- example: NAME -->" is taken
# from README.md; the blocks of one NAME run in order, as one bash -e script, in a directory of their own whose
# "build" is the build directory under test, with HOME there too (so the default store is fresh) and no KMS11_*
# variables. A block changed so that it no longer works fails here.
. "$(dirname "$0")/common.sh"
kms_need pkcs11-tool p11tool softhsm2-util openssl
: "${BUILDDIR:?BUILDDIR must name the build directory}"
readme="$(dirname "$0")/../../README.md"
[ -f "$readme" ] || kms_die "no README.md at $readme"
/usr/bin/python3 - "$readme" "$KMS_TMP/examples" <<'PY' || kms_die "extracting the README's examples"
import os, re, sys
text = open(sys.argv[1]).read().splitlines()
out = sys.argv[2]
os.makedirs(out)
name = None
i = 0
while i < len(text):
    m = re.match(r"^<!-- example: ([a-z0-9-]+) -->$", text[i])
    if m:
        name = m.group(1)
    elif name and text[i].startswith("```"):
        j = i + 1
        while not text[j].startswith("```"):
            j += 1
        with open(os.path.join(out, name + ".sh"), "a") as f:
            f.write("\n".join(text[i + 1:j]) + "\n")
        name, i = None, j
    i += 1
PY
ls "$KMS_TMP/examples" >"$KMS_TMP/names"
kms_check "the README marks its examples (using, cli, softhsm)" \
	[ "$(tr '\n' ' ' <"$KMS_TMP/names")" = "cli.sh softhsm.sh using.sh " ]
for ex in "$KMS_TMP"/examples/*.sh; do
	name=$(basename "$ex" .sh)
	dir="$KMS_TMP/run-$name"
	mkdir -p "$dir/home"
	ln -s "$(cd "$BUILDDIR" && pwd)" "$dir/build"
	if (cd "$dir" && env -u KMS11_STORE -u KMS11_CONF -u KMS11_PIN -u XDG_DATA_HOME -u SOFTHSM2_CONF HOME="$dir/home" \
		PATH="$PATH" bash -eo pipefail "$ex" >"$dir/out.log" 2>&1); then
		kms_ok "README example '$name' runs as written"
	else
		kms_fail "README example '$name': $(tail -5 "$dir/out.log")"
	fi
done
kms_check "... 'using' signed the message with the key it made" [ -s "$KMS_TMP/run-using/msg.sig" ]
kms_check "... and listed the key through p11tool" grep -q "object=web" "$KMS_TMP/run-using/out.log"
kms_check "... 'cli' ended with the key disabled" grep -q '"state": "disabled"' "$KMS_TMP/run-cli/out.log"
kms_check "... 'softhsm': SoftHSMv2 shows the key sensitive, never extractable" \
	grep -q "sensitive, always sensitive, never extractable" "$KMS_TMP/run-softhsm/out.log"
kms_finish
