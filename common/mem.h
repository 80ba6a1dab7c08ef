/* SPDX-License-Identifier: Apache-2.0 */
/* Memory for secrets: wiping, and locked, non-dumpable allocations. */
#ifndef KMS_COMMON_MEM_H
#define KMS_COMMON_MEM_H

#include <stddef.h>

/* Overwrites n bytes with zeros in a way the compiler keeps. */
void kms_wipe(void *p, size_t n);
/* Allocates n zeroed bytes, locked in RAM and excluded from core dumps: from OpenSSL's secure heap
 * for small blocks when there is one, else whole pages of its own (mlock where the system allows,
 * MADV_DONTDUMP); returns NULL when out of memory. */
void *kms_secure_alloc(size_t n);
/* Wipes and frees memory from kms_secure_alloc; NULL is allowed. */
void kms_secure_free(void *p);
/* Duplicates n bytes into secure memory; returns NULL when out of memory. */
void *kms_secure_dup(const void *p, size_t n);
/* Wipes n bytes of a malloc'd buffer and frees it; NULL is allowed. */
void kms_free_wiped(void *p, size_t n);

#endif
