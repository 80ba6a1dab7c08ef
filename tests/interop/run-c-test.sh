#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs one C interop test program with a fresh store that is removed afterwards.
. "$(dirname "$0")/common.sh"
prog=${1:?usage: run-c-test.sh PROGRAM}
[ -x "$prog" ] || kms_die "test program $prog is missing"
rc=0
"$prog" || rc=$?
[ "$rc" -eq 0 ] || echo "FAIL: $prog exited $rc" >&2
exit "$rc"
