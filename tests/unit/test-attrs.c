/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for attribute lists and their record encoding (common/attrs.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/attrs.h"
#include "tests/unit/testutil.h"

/* Builds a list with a few attributes of varied sizes, inserted out of order. */
static void fill(struct kms_attrs *a)
{
	uint8_t big[300];

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	ck_assert_int_eq(kms_attrs_set(a, 0x102, "id-bytes", 8), 0);
	ck_assert_int_eq(kms_attrs_set_ulong(a, 0, 3), 0);
	ck_assert_int_eq(kms_attrs_set(a, 3, "label", 5), 0);
	ck_assert_int_eq(kms_attrs_set_bool(a, 2, true), 0);
	ck_assert_int_eq(kms_attrs_set(a, 0x11, big, sizeof(big)), 0);
	ck_assert_int_eq(kms_attrs_set(a, 0x80000001ull, NULL, 0), 0);
	ck_assert_int_eq(kms_attrs_set(a, UINT64_MAX, "x", 1), 0);
}

START_TEST(test_set_get_sorted)
{
	struct kms_attrs a = KMS_ATTRS_INIT;
	const struct kms_attr *at;
	unsigned long ul = 0;

	fill(&a);
	ck_assert_uint_eq(a.n, 7);
	for (size_t i = 1; i < a.n; i++)
		ck_assert(a.v[i - 1].type < a.v[i].type);
	at = kms_attrs_get(&a, 3);
	ck_assert_ptr_nonnull(at);
	ck_assert_uint_eq(at->len, 5);
	ck_assert_mem_eq(at->val, "label", 5);
	ck_assert_int_eq(kms_attrs_get_ulong(&a, 0, &ul), 0);
	ck_assert_uint_eq(ul, 3);
	ck_assert_int_eq(kms_attrs_get_ulong(&a, 3, &ul), -1); /* wrong size */
	ck_assert_int_eq(kms_attrs_get_ulong(&a, 0x999, &ul), -1);
	ck_assert(kms_attrs_get_bool(&a, 2, false));
	ck_assert(kms_attrs_get_bool(&a, 0x999, true));
	ck_assert(!kms_attrs_get_bool(&a, 3, false)); /* not one byte: default */
	at = kms_attrs_get(&a, 0x80000001ull);
	ck_assert_ptr_nonnull(at);
	ck_assert_uint_eq(at->len, 0);
	ck_assert_ptr_null(at->val);
	ck_assert_ptr_null(kms_attrs_get(&a, 4));

	/* Replace keeps one entry per type. */
	ck_assert_int_eq(kms_attrs_set(&a, 3, "other label", 11), 0);
	ck_assert_uint_eq(a.n, 7);
	at = kms_attrs_get(&a, 3);
	ck_assert_uint_eq(at->len, 11);
	ck_assert_mem_eq(at->val, "other label", 11);

	kms_attrs_del(&a, 3);
	kms_attrs_del(&a, 3);
	ck_assert_uint_eq(a.n, 6);
	ck_assert_ptr_null(kms_attrs_get(&a, 3));
	for (size_t i = 1; i < a.n; i++)
		ck_assert(a.v[i - 1].type < a.v[i].type);

	kms_attrs_free(&a);
	ck_assert_uint_eq(a.n, 0);
	ck_assert_ptr_null(a.v);
	/* Reusable after free. */
	ck_assert_int_eq(kms_attrs_set(&a, 1, "a", 1), 0);
	ck_assert_uint_eq(a.n, 1);
	kms_attrs_free(&a);
}
END_TEST

START_TEST(test_many_sorted)
{
	struct kms_attrs a = KMS_ATTRS_INIT;

	/* Pseudo-random insertion order with repeats. */
	for (uint64_t i = 0; i < 1000; i++) {
		uint64_t t = (i * 7919) % 503;
		ck_assert_int_eq(kms_attrs_set(&a, t, &i, sizeof(i)), 0);
	}
	ck_assert_uint_eq(a.n, 503);
	for (size_t i = 0; i < a.n; i++)
		ck_assert_uint_eq(a.v[i].type, i);
	for (uint64_t t = 0; t < 503; t++)
		ck_assert_ptr_nonnull(kms_attrs_get(&a, t));
	kms_attrs_free(&a);
}
END_TEST

START_TEST(test_copy_merge)
{
	struct kms_attrs a = KMS_ATTRS_INIT, b = KMS_ATTRS_INIT, c = KMS_ATTRS_INIT;

	fill(&a);
	ck_assert_int_eq(kms_attrs_copy(&b, &a), 0);
	ck_assert_uint_eq(b.n, a.n);
	for (size_t i = 0; i < a.n; i++) {
		ck_assert_uint_eq(a.v[i].type, b.v[i].type);
		ck_assert_uint_eq(a.v[i].len, b.v[i].len);
		if (a.v[i].len) {
			ck_assert_ptr_ne(a.v[i].val, b.v[i].val);
			ck_assert_mem_eq(a.v[i].val, b.v[i].val, a.v[i].len);
		}
	}
	ck_assert_int_eq(kms_attrs_set(&c, 3, "new", 3), 0);
	ck_assert_int_eq(kms_attrs_set(&c, 5, "five", 4), 0);
	ck_assert_int_eq(kms_attrs_merge(&b, &c), 0);
	ck_assert_uint_eq(b.n, a.n + 1);
	ck_assert_mem_eq(kms_attrs_get(&b, 3)->val, "new", 3);
	ck_assert_mem_eq(kms_attrs_get(&b, 5)->val, "five", 4);
	ck_assert_mem_eq(kms_attrs_get(&b, 0x102)->val, "id-bytes", 8);
	/* a untouched by changes to its copy. */
	ck_assert_mem_eq(kms_attrs_get(&a, 3)->val, "label", 5);
	kms_attrs_free(&a);
	kms_attrs_free(&b);
	kms_attrs_free(&c);
}
END_TEST

START_TEST(test_encode_decode)
{
	struct kms_attrs a = KMS_ATTRS_INIT, b = KMS_ATTRS_INIT;
	uint8_t *rec = NULL;
	size_t len = 0;

	fill(&a);
	ck_assert_int_eq(kms_attrs_encode(&a, &rec, &len), 0);
	ck_assert_mem_eq(rec, "K11R", 4);
	ck_assert_uint_eq(rec[4], KMS_RECORD_VERSION);
	ck_assert_uint_eq(rec[8], 7);
	ck_assert_int_eq(kms_attrs_decode(rec, len, &b), 0);
	ck_assert_uint_eq(b.n, a.n);
	for (size_t i = 0; i < a.n; i++) {
		ck_assert_uint_eq(a.v[i].type, b.v[i].type);
		ck_assert_uint_eq(a.v[i].len, b.v[i].len);
		if (a.v[i].len)
			ck_assert_mem_eq(a.v[i].val, b.v[i].val, a.v[i].len);
	}
	kms_attrs_free(&b);
	free(rec);

	/* Empty list. */
	kms_attrs_free(&a);
	ck_assert_int_eq(kms_attrs_encode(&a, &rec, &len), 0);
	ck_assert_uint_eq(len, 12);
	ck_assert_int_eq(kms_attrs_decode(rec, len, &b), 0);
	ck_assert_uint_eq(b.n, 0);
	free(rec);
}
END_TEST

START_TEST(test_decode_truncated)
{
	struct kms_attrs a = KMS_ATTRS_INIT, b;
	uint8_t *rec = NULL, *copy;
	const uint8_t *v;
	size_t len = 0, vl;

	fill(&a);
	ck_assert_int_eq(kms_attrs_encode(&a, &rec, &len), 0);
	for (size_t cut = 0; cut < len; cut++) {
		/* An exact-size heap copy so that an over-read is caught by sanitizers and valgrind. */
		copy = malloc(cut ? cut : 1);
		memcpy(copy, rec, cut);
		kms_attrs_init(&b);
		ck_assert_msg(kms_attrs_decode(copy, cut, &b) == -1, "truncated at %zu accepted", cut);
		ck_assert_uint_eq(b.n, 0);
		ck_assert_ptr_null(b.v);
		/* find must not crash; an attribute wholly before the cut may be found. */
		if (kms_record_find(copy, cut, UINT64_MAX, &v, &vl) == 0)
			ck_abort_msg("last attribute found in record truncated at %zu", cut);
		free(copy);
	}
	/* A trailing byte is malformed too. */
	copy = malloc(len + 1);
	memcpy(copy, rec, len);
	copy[len] = 0;
	ck_assert_int_eq(kms_attrs_decode(copy, len + 1, &b), -1);
	free(copy);
	ck_assert_int_eq(kms_attrs_decode(NULL, 0, &b), -1);
	free(rec);
	kms_attrs_free(&a);
}
END_TEST

START_TEST(test_decode_malformed)
{
	struct kms_attrs a = KMS_ATTRS_INIT, b;
	uint8_t *rec = NULL;
	size_t len = 0;
	unsigned int seed = 12345;

	ck_assert_int_eq(kms_attrs_set(&a, 1, "aa", 2), 0);
	ck_assert_int_eq(kms_attrs_set(&a, 2, "bb", 2), 0);
	ck_assert_int_eq(kms_attrs_encode(&a, &rec, &len), 0);

	rec[0] ^= 1; /* magic */
	ck_assert_int_eq(kms_attrs_decode(rec, len, &b), -1);
	rec[0] ^= 1;
	rec[4] = 2; /* version */
	ck_assert_int_eq(kms_attrs_decode(rec, len, &b), -1);
	rec[4] = 1;
	rec[6] = 1; /* flags */
	ck_assert_int_eq(kms_attrs_decode(rec, len, &b), -1);
	rec[6] = 0;
	rec[8] = 3; /* count larger than the entries */
	ck_assert_int_eq(kms_attrs_decode(rec, len, &b), -1);
	rec[11] = 0xff; /* huge count: rejected before allocating */
	ck_assert_int_eq(kms_attrs_decode(rec, len, &b), -1);
	rec[8] = 2;
	rec[11] = 0;
	rec[12 + 12 + 2] = 1; /* second type equal to the first: not sorted */
	ck_assert_int_eq(kms_attrs_decode(rec, len, &b), -1);
	rec[12 + 12 + 2] = 2;
	rec[12 + 8] = 0xff; /* first length beyond the end */
	ck_assert_int_eq(kms_attrs_decode(rec, len, &b), -1);
	rec[12 + 8] = 2;
	ck_assert_int_eq(kms_attrs_decode(rec, len, &b), 0);
	kms_attrs_free(&b);

	/* Random byte flips: never a crash; when accepted the result re-encodes to the same bytes. */
	for (int round = 0; round < 2000; round++) {
		uint8_t *m = malloc(len);
		uint8_t *re = NULL;
		size_t relen = 0;

		memcpy(m, rec, len);
		m[rand_r(&seed) % len] = (uint8_t)rand_r(&seed);
		if (kms_attrs_decode(m, len, &b) == 0) {
			ck_assert_int_eq(kms_attrs_encode(&b, &re, &relen), 0);
			ck_assert_uint_eq(relen, len);
			ck_assert_mem_eq(re, m, len);
			free(re);
			kms_attrs_free(&b);
		}
		free(m);
	}
	free(rec);
	kms_attrs_free(&a);
}
END_TEST

START_TEST(test_record_find)
{
	struct kms_attrs a = KMS_ATTRS_INIT;
	uint8_t *rec = NULL;
	const uint8_t *v;
	size_t len = 0, vl;

	fill(&a);
	ck_assert_int_eq(kms_attrs_encode(&a, &rec, &len), 0);
	for (size_t i = 0; i < a.n; i++) {
		ck_assert_int_eq(kms_record_find(rec, len, a.v[i].type, &v, &vl), 0);
		ck_assert_uint_eq(vl, a.v[i].len);
		ck_assert(v >= rec && v + vl <= rec + len);
		if (vl)
			ck_assert_mem_eq(v, a.v[i].val, vl);
	}
	ck_assert_int_eq(kms_record_find(rec, len, 4, &v, &vl), -1);
	ck_assert_int_eq(kms_record_find(rec, len, 0x7fffffff, &v, &vl), -1);
	rec[1] = 'X';
	ck_assert_int_eq(kms_record_find(rec, len, 3, &v, &vl), -1);
	free(rec);
	kms_attrs_free(&a);
}
END_TEST

static Suite *attrs_suite(void)
{
	Suite *s = suite_create("attrs");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_set_get_sorted);
	tcase_add_test(tc, test_many_sorted);
	tcase_add_test(tc, test_copy_merge);
	tcase_add_test(tc, test_encode_decode);
	tcase_add_test(tc, test_decode_truncated);
	tcase_add_test(tc, test_decode_malformed);
	tcase_add_test(tc, test_record_find);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kms_test_run(attrs_suite());
}
