/* SPDX-License-Identifier: Apache-2.0 */
/* What the parts of kms11-bench share: the loaded module, the clock, error reporting. */
#ifndef KMS_BENCH_H
#define KMS_BENCH_H

#include <p11-kit/pkcs11.h>

#define KMS_BENCH_ROUNDS 3

/* The module's function list (bench.c loads it). */
extern CK_FUNCTION_LIST_PTR p11;

/* Seconds on the monotonic clock. */
double kms_bench_now(void);
/* Reports an error on stderr and makes the run fail. */
void kms_bench_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Symmetric throughput (AES-GCM, HMAC, SHA-256) through the module against raw EVP, in session s. */
void kms_bench_sym_table(CK_SESSION_HANDLE s, double seconds);

/* Key pair generation through the module (on slot, logged in) against raw EVP_PKEY_keygen. */
void kms_bench_keygen_table(CK_SLOT_ID slot, double seconds);

/* C_SignInit + C_Sign with the RSA-2048, P-256 and Ed25519 keys against `openssl speed` in the same run. */
void kms_bench_speed_table(CK_SLOT_ID slot, CK_OBJECT_HANDLE rsa, CK_OBJECT_HANDLE ec, CK_OBJECT_HANDLE ed,
			   double seconds);

#endif
