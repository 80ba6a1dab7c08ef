#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Interop suite: the module exports exactly C_GetFunctionList, C_GetInterfaceList and C_GetInterface.
. "$(dirname "$0")/common.sh"
kms_need nm

nm -D --defined-only "$KMS11_MODULE" >"$KMS_TMP/nm.txt" || kms_die "nm -D failed on $KMS11_MODULE"
# Keep the names; drop the linker's own (_init, _fini, version nodes shown as absolute symbols).
awk '{ print $NF }' "$KMS_TMP/nm.txt" | sed 's/@.*//' | grep -Ev '^(_init|_fini)$' | sort -u >"$KMS_TMP/syms.txt"
grep -E '^[[:xdigit:]]* *A ' "$KMS_TMP/nm.txt" | awk '{ print $NF }' | sed 's/@.*//' >"$KMS_TMP/abs.txt" || true
grep -vxF -f "$KMS_TMP/abs.txt" "$KMS_TMP/syms.txt" >"$KMS_TMP/exported.txt" || true
printf '%s\n' C_GetFunctionList C_GetInterface C_GetInterfaceList | sort >"$KMS_TMP/want.txt"

for s in C_GetFunctionList C_GetInterfaceList C_GetInterface; do
	kms_check "$s is exported" grep -qx "$s" "$KMS_TMP/exported.txt"
done
extra=$(comm -23 "$KMS_TMP/exported.txt" "$KMS_TMP/want.txt" | tr '\n' ' ')
kms_check "nothing else is exported${extra:+ (extra: $extra)}" [ -z "$extra" ]
n=$(grep -c '^C_' "$KMS_TMP/exported.txt" || true)
kms_check "no other C_ function is exported ($n)" [ "$n" -eq 3 ]
kms_finish
