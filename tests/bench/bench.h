/* SPDX-License-Identifier: Apache-2.0 */
/* What the parts of kms11-bench share: the loaded module, the clock, error reporting. */
#ifndef KMS_BENCH_H
#define KMS_BENCH_H

#include <p11-kit/pkcs11.h>

#define KMS_BENCH_ROUNDS 3
#define KMS_BENCH_MAX_THREADS 2

/* A measured loop: each thread makes its state with start, calls one until the time is up, then stop. A
 * CKR other than CKR_OK from start or one ends that thread and fails the run. */
struct kms_bench_loop {
	CK_RV (*start)(void *arg, void **state);
	CK_RV (*one)(void *arg, void *state);
	void (*stop)(void *arg, void *state);
	void *arg;
};

/* The module's function list (bench.c loads it). */
extern CK_FUNCTION_LIST_PTR p11;

/* Seconds on the monotonic clock. */
double kms_bench_now(void);
/* Reports an error on stderr and makes the run fail. */
void kms_bench_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs l on `threads` threads (1..KMS_BENCH_MAX_THREADS) for `seconds`, all starting together; operations per
 * second, or 0 with *failed set to the first failing CKR. */
double kms_bench_loop_run(const struct kms_bench_loop *l, int threads, double seconds, CK_RV *failed);
/* start and stop of a loop that needs a session of its own on the slot the bench uses (arg: unused). */
CK_RV kms_bench_session_start(void *arg, void **state);
void kms_bench_session_stop(void *arg, void *state);

/* Symmetric throughput (AES-GCM, HMAC, SHA-256) through the module against raw EVP, in session s. */
void kms_bench_sym_table(CK_SESSION_HANDLE s, double seconds);

/* Key pair generation through the module (logged in) against raw EVP_PKEY_keygen. */
void kms_bench_keygen_table(double seconds);

/* The hsm part (hsm.c): a kms11 token of the pkcs11 engine on a SoftHSMv2 token made in dir, against SoftHSMv2
 * used directly on the same keys; 0, or -1 after reporting an error. */
int kms_bench_hsm(const char *module, const char *dir, double seconds);

/* C_SignInit + C_Sign with the RSA-2048, P-256 and Ed25519 keys against `openssl speed` in the same run. */
void kms_bench_speed_table(CK_OBJECT_HANDLE rsa, CK_OBJECT_HANDLE ec, CK_OBJECT_HANDLE ed,
			   double seconds);

#endif
