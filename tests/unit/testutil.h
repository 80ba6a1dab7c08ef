/* SPDX-License-Identifier: Apache-2.0 */
/* Shared pieces of the unit tests: a CK_RV assertion that prints names, and a suite runner. */
#ifndef KMS_TESTUTIL_H
#define KMS_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <p11-kit/pkcs11.h>

#include "common/ckr.h"

/* Asserts that expr returns want, naming both codes when it does not. */
#define ck_assert_rv(expr, want)                                                                            \
	do {                                                                                                \
		CK_RV rv_ = (expr), want_ = (want);                                                         \
		ck_assert_msg(rv_ == want_, "%s: got %s, want %s", #expr, kms_ckr_name(rv_),                  \
			      kms_ckr_name(want_));                                                         \
	} while (0)

/* Writes text as DIR/kms11.conf and points KMS11_CONF at it. */
static inline void kms_test_conf(const char *dir, const char *text)
{
	char path[300];
	FILE *fp;

	ck_assert_int_lt(snprintf(path, sizeof(path), "%s/kms11.conf", dir), (int)sizeof(path));
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
	setenv("KMS11_CONF", path, 1);
}

/* Runs a suite and returns the process exit status (0 when every check passed). */
static inline int kms_test_run(Suite *su)
{
	SRunner *sr = srunner_create(su);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

#endif
