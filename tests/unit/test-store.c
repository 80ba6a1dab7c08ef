/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the LMDB store (storage/): objects, ids, indexes, tokens, fork, crashes and threads. */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "common/attrs.h"
#include "tests/unit/testutil.h"
#include "storage/store.h"


static char dir[64];
static struct kms_store *st;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void setup(void)
{
	strcpy(dir, "/tmp/kms11-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_rv(kms_store_open(dir, &st), CKR_OK);
}

static void teardown(void)
{
	kms_store_close(st);
	st = NULL;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void reopen(void)
{
	kms_store_close(st);
	st = NULL;
	ck_assert_rv(kms_store_open(dir, &st), CKR_OK);
}

/* An object template; class or key type ~0UL means absent, label/id NULL means absent. */
static void mkobj(struct kms_attrs *a, unsigned long cls, unsigned long kt, const char *label, const char *id,
		  bool priv)
{
	kms_attrs_init(a);
	if (cls != ~0UL)
		ck_assert_int_eq(kms_attrs_set_ulong(a, CKA_CLASS, cls), 0);
	if (kt != ~0UL)
		ck_assert_int_eq(kms_attrs_set_ulong(a, CKA_KEY_TYPE, kt), 0);
	if (label)
		ck_assert_int_eq(kms_attrs_set(a, CKA_LABEL, label, strlen(label)), 0);
	if (id)
		ck_assert_int_eq(kms_attrs_set(a, CKA_ID, id, strlen(id)), 0);
	ck_assert_int_eq(kms_attrs_set_bool(a, CKA_PRIVATE, priv), 0);
	ck_assert_int_eq(kms_attrs_set_bool(a, CKA_TOKEN, true), 0);
}

static uint64_t put_new(uint32_t no, const struct kms_attrs *a)
{
	uint64_t id = 0;

	ck_assert_rv(kms_store_id_alloc(st, &id), CKR_OK);
	ck_assert_rv(kms_store_obj_put(st, no, id, a, true), CKR_OK);
	return id;
}

static uint64_t mk(uint32_t no, unsigned long cls, unsigned long kt, const char *label, const char *cid, bool priv)
{
	struct kms_attrs a;
	uint64_t id;

	mkobj(&a, cls, kt, label, cid, priv);
	id = put_new(no, &a);
	kms_attrs_free(&a);
	return id;
}

/* Runs a find and compares the result with the expected ids (ascending). */
static void expect_find(uint32_t no, const struct kms_attrs *t, bool priv, size_t n, ...)
{
	uint64_t *ids = NULL;
	size_t got = 0;
	va_list ap;

	ck_assert_rv(kms_store_obj_find(st, no, t, priv, &ids, &got), CKR_OK);
	ck_assert_uint_eq(got, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(ids[i], va_arg(ap, uint64_t));
	va_end(ap);
	free(ids);
}

static size_t count_label(uint32_t no, const char *label)
{
	struct kms_attrs t = KMS_ATTRS_INIT;
	uint64_t *ids = NULL;
	size_t n = 0;

	ck_assert_int_eq(kms_attrs_set(&t, CKA_LABEL, label, strlen(label)), 0);
	ck_assert_rv(kms_store_obj_find(st, no, &t, true, &ids, &n), CKR_OK);
	free(ids);
	kms_attrs_free(&t);
	return n;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool attrs_equal(const struct kms_attrs *a, const struct kms_attrs *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		if (a->v[i].type != b->v[i].type || a->v[i].len != b->v[i].len)
			return false;
		if (a->v[i].len && memcmp(a->v[i].val, b->v[i].val, a->v[i].len) != 0)
			return false;
	}
	return true;
}

START_TEST(test_put_get_del)
{
	struct kms_attrs a, b = KMS_ATTRS_INIT;
	uint64_t id, s1 = 0, s2 = 0;
	uint32_t no = 0;

	mkobj(&a, CKO_SECRET_KEY, CKK_AES, "k", "i", false);
	ck_assert_int_eq(kms_attrs_set(&a, CKA_VALUE, "secret-bytes", 12), 0);
	id = put_new(7, &a);
	ck_assert_uint_ne(id, 0);
	ck_assert_rv(kms_store_obj_get(st, id, &no, &b), CKR_OK);
	ck_assert_uint_eq(no, 7);
	ck_assert(attrs_equal(&a, &b));
	kms_attrs_free(&b);
	ck_assert_rv(kms_store_obj_stamp(st, id, &s1), CKR_OK);
	ck_assert_uint_ne(s1, 0);

	/* Create on an existing id fails; replace changes the record and the stamp. */
	ck_assert_rv(kms_store_obj_put(st, 7, id, &a, true), CKR_DEVICE_ERROR);
	ck_assert_int_eq(kms_attrs_set(&a, CKA_LABEL, "k2", 2), 0);
	ck_assert_rv(kms_store_obj_put(st, 7, id, &a, false), CKR_OK);
	ck_assert_rv(kms_store_obj_stamp(st, id, &s2), CKR_OK);
	ck_assert_uint_gt(s2, s1);
	ck_assert_rv(kms_store_obj_get(st, id, NULL, &b), CKR_OK);
	ck_assert(attrs_equal(&a, &b));
	kms_attrs_free(&b);

	/* Survives a reopen. */
	reopen();
	ck_assert_rv(kms_store_obj_get(st, id, NULL, &b), CKR_OK);
	ck_assert(attrs_equal(&a, &b));
	kms_attrs_free(&b);

	ck_assert_rv(kms_store_obj_del(st, id), CKR_OK);
	ck_assert_rv(kms_store_obj_get(st, id, NULL, &b), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(b.n, 0);
	ck_assert_rv(kms_store_obj_stamp(st, id, &s1), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_rv(kms_store_obj_del(st, id), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(count_label(7, "k2"), 0);
	kms_attrs_free(&a);
}
END_TEST

START_TEST(test_ids_not_reused)
{
	uint64_t a, b, c;

	a = mk(1, CKO_DATA, ~0UL, "x", NULL, false);
	ck_assert_rv(kms_store_obj_del(st, a), CKR_OK);
	ck_assert_rv(kms_store_id_alloc(st, &b), CKR_OK);
	ck_assert_uint_gt(b, a);
	reopen();
	ck_assert_rv(kms_store_id_alloc(st, &c), CKR_OK);
	ck_assert_uint_gt(c, b);
	ck_assert_uint_lt(c, 1ull << 62);
}
END_TEST

START_TEST(test_id_alloc_many)
{
	uint64_t a = 0, b = 0, ids[5] = { 0 };

	ck_assert_rv(kms_store_id_alloc(st, &a), CKR_OK);
	ck_assert_rv(kms_store_id_alloc_many(st, 5, ids), CKR_OK);
	for (size_t i = 0; i < 5; i++)
		ck_assert_uint_eq(ids[i], a + 1 + i);
	ck_assert_rv(kms_store_id_alloc_many(st, 0, NULL), CKR_OK);
	ck_assert_rv(kms_store_id_alloc_many(st, 1, NULL), CKR_ARGUMENTS_BAD);
	reopen();
	ck_assert_rv(kms_store_id_alloc(st, &b), CKR_OK);
	ck_assert_uint_eq(b, ids[4] + 1);
}
END_TEST

START_TEST(test_create_many)
{
	struct kms_attrs pub, priv, x, out = KMS_ATTRS_INIT, t = KMS_ATTRS_INIT;
	const struct kms_attrs *pair[2] = { &pub, &priv }, *three[3] = { &pub, &priv, &x };
	uint64_t ids[3], dup[2], s0 = 0, s1 = 0, g;

	mkobj(&pub, CKO_PUBLIC_KEY, CKK_EC, "pair", "P", false);
	mkobj(&priv, CKO_PRIVATE_KEY, CKK_EC, "pair", "P", true);
	mkobj(&x, CKO_DATA, ~0UL, "x", NULL, false);
	ck_assert_rv(kms_store_id_alloc_many(st, 2, ids), CKR_OK);
	ck_assert_rv(kms_store_obj_create_many(st, 3, ids, pair, 2), CKR_OK);
	ck_assert_rv(kms_store_obj_get(st, ids[0], NULL, &out), CKR_OK);
	ck_assert(attrs_equal(&pub, &out));
	kms_attrs_free(&out);
	ck_assert_rv(kms_store_obj_get(st, ids[1], NULL, &out), CKR_OK);
	ck_assert(attrs_equal(&priv, &out));
	kms_attrs_free(&out);
	ck_assert_int_eq(kms_attrs_set(&t, CKA_ID, "P", 1), 0);
	expect_find(3, &t, true, 2, ids[0], ids[1]);
	kms_attrs_free(&t);
	/* Both written by the same transaction. */
	ck_assert_rv(kms_store_obj_stamp(st, ids[0], &s0), CKR_OK);
	ck_assert_rv(kms_store_obj_stamp(st, ids[1], &s1), CKR_OK);
	ck_assert_uint_eq(s0, s1);
	ck_assert_uint_eq(s0, kms_store_generation(st));

	/* One id of three already exists: nothing is written, the existing object is untouched. */
	ck_assert_rv(kms_store_id_alloc_many(st, 3, ids), CKR_OK);
	ck_assert_rv(kms_store_obj_put(st, 3, ids[1], &x, true), CKR_OK);
	g = kms_store_generation(st);
	ck_assert_rv(kms_store_obj_create_many(st, 3, ids, three, 3), CKR_DEVICE_ERROR);
	ck_assert_uint_eq(kms_store_generation(st), g);
	ck_assert_rv(kms_store_obj_get(st, ids[0], NULL, &out), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_rv(kms_store_obj_get(st, ids[2], NULL, &out), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_rv(kms_store_obj_get(st, ids[1], NULL, &out), CKR_OK);
	ck_assert(attrs_equal(&x, &out));
	kms_attrs_free(&out);
	ck_assert_uint_eq(count_label(3, "pair"), 2);
	ck_assert_uint_eq(count_label(3, "x"), 1);
	/* The same id twice, or an id 0, writes nothing either. */
	ck_assert_rv(kms_store_id_alloc(st, &dup[0]), CKR_OK);
	dup[1] = dup[0];
	ck_assert_rv(kms_store_obj_create_many(st, 3, dup, pair, 2), CKR_DEVICE_ERROR);
	ck_assert_rv(kms_store_obj_get(st, dup[0], NULL, &out), CKR_OBJECT_HANDLE_INVALID);
	dup[1] = 0;
	ck_assert_rv(kms_store_obj_create_many(st, 3, dup, pair, 2), CKR_ARGUMENTS_BAD);
	ck_assert_rv(kms_store_obj_get(st, dup[0], NULL, &out), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(count_label(3, "pair"), 2);
	ck_assert_rv(kms_store_obj_create_many(st, 3, NULL, NULL, 0), CKR_OK);
	kms_attrs_free(&pub);
	kms_attrs_free(&priv);
	kms_attrs_free(&x);
}
END_TEST

START_TEST(test_find)
{
	struct kms_attrs t = KMS_ATTRS_INIT;
	uint32_t t1 = 0, t2 = 0;
	uint64_t o1, o2, o3, o4, o5, o6;
	uint8_t short_class[4] = { 0 };

	ck_assert_rv(kms_store_token_number(st, "one", &t1), CKR_OK);
	ck_assert_rv(kms_store_token_number(st, "two", &t2), CKR_OK);
	ck_assert_uint_ne(t1, t2);
	o1 = mk(t1, CKO_PRIVATE_KEY, CKK_RSA, "alpha", "K1", true);
	o2 = mk(t1, CKO_PUBLIC_KEY, CKK_RSA, "alpha", "K1", false);
	o3 = mk(t1, CKO_SECRET_KEY, CKK_AES, "beta", "K2", false);
	o4 = mk(t2, CKO_PUBLIC_KEY, CKK_RSA, "alpha", "K1", false);
	o5 = mk(t1, CKO_DATA, ~0UL, "gamma", NULL, false);
	o6 = mk(t1, ~0UL, ~0UL, NULL, NULL, false); /* no class, no label */

	/* By label, with and without private objects. */
	ck_assert_int_eq(kms_attrs_set(&t, CKA_LABEL, "alpha", 5), 0);
	expect_find(t1, &t, true, 2, o1, o2);
	expect_find(t1, &t, false, 1, o2);
	expect_find(t2, &t, true, 1, o4);
	ck_assert_int_eq(kms_attrs_set_ulong(&t, CKA_CLASS, CKO_PRIVATE_KEY), 0);
	expect_find(t1, &t, true, 1, o1);
	expect_find(t1, &t, false, 0);
	ck_assert_int_eq(kms_attrs_set(&t, CKA_LABEL, "nope", 4), 0);
	expect_find(t1, &t, true, 0);
	kms_attrs_free(&t);

	/* By CKA_ID. */
	ck_assert_int_eq(kms_attrs_set(&t, CKA_ID, "K1", 2), 0);
	expect_find(t1, &t, true, 2, o1, o2);
	ck_assert_int_eq(kms_attrs_set(&t, CKA_VALUE, "v", 1), 0); /* nobody has it */
	expect_find(t1, &t, true, 0);
	kms_attrs_free(&t);

	/* By key type, then class. */
	ck_assert_int_eq(kms_attrs_set_ulong(&t, CKA_KEY_TYPE, CKK_RSA), 0);
	expect_find(t1, &t, true, 2, o1, o2);
	expect_find(t1, &t, false, 1, o2);
	kms_attrs_free(&t);
	ck_assert_int_eq(kms_attrs_set_ulong(&t, CKA_CLASS, CKO_PUBLIC_KEY), 0);
	expect_find(t1, &t, true, 1, o2);
	expect_find(t2, &t, true, 1, o4);
	ck_assert_int_eq(kms_attrs_set_ulong(&t, CKA_CLASS, CKO_DATA), 0);
	expect_find(t1, &t, true, 1, o5);
	/* A class of the wrong size matches nothing (and is no error). */
	ck_assert_int_eq(kms_attrs_set(&t, CKA_CLASS, short_class, sizeof(short_class)), 0);
	expect_find(t1, &t, true, 0);
	kms_attrs_free(&t);

	/* Empty template: every object of the token, objects without a class included. */
	expect_find(t1, &t, true, 5, o1, o2, o3, o5, o6);
	expect_find(t1, &t, false, 4, o2, o3, o5, o6);
	expect_find(t2, &t, false, 1, o4);
	expect_find(t2 + 100, &t, true, 0);
	/* CKA_PRIVATE in the template selects private objects explicitly. */
	ck_assert_int_eq(kms_attrs_set_bool(&t, CKA_PRIVATE, true), 0);
	expect_find(t1, &t, true, 1, o1);
	kms_attrs_free(&t);
}
END_TEST

START_TEST(test_replace_reindexes)
{
	struct kms_attrs a, t = KMS_ATTRS_INIT;
	uint64_t id;

	mkobj(&a, CKO_PRIVATE_KEY, CKK_RSA, "old", "X", false);
	id = put_new(1, &a);
	ck_assert_uint_eq(count_label(1, "old"), 1);
	kms_attrs_free(&a);
	mkobj(&a, CKO_SECRET_KEY, CKK_AES, "new", "Y", false);
	ck_assert_rv(kms_store_obj_put(st, 1, id, &a, false), CKR_OK);
	ck_assert_uint_eq(count_label(1, "old"), 0);
	ck_assert_uint_eq(count_label(1, "new"), 1);
	ck_assert_int_eq(kms_attrs_set(&t, CKA_ID, "X", 1), 0);
	expect_find(1, &t, true, 0);
	ck_assert_int_eq(kms_attrs_set(&t, CKA_ID, "Y", 1), 0);
	expect_find(1, &t, true, 1, id);
	kms_attrs_free(&t);
	ck_assert_int_eq(kms_attrs_set_ulong(&t, CKA_KEY_TYPE, CKK_RSA), 0);
	expect_find(1, &t, true, 0);
	kms_attrs_free(&t);
	ck_assert_int_eq(kms_attrs_set_ulong(&t, CKA_CLASS, CKO_PRIVATE_KEY), 0);
	expect_find(1, &t, true, 0);
	ck_assert_int_eq(kms_attrs_set_ulong(&t, CKA_CLASS, CKO_SECRET_KEY), 0);
	expect_find(1, &t, true, 1, id);
	kms_attrs_free(&t);
	/* Dropping the label removes it from the index; the empty template still finds it once. */
	kms_attrs_del(&a, CKA_LABEL);
	ck_assert_rv(kms_store_obj_put(st, 1, id, &a, false), CKR_OK);
	ck_assert_uint_eq(count_label(1, "new"), 0);
	expect_find(1, &t, true, 1, id);
	kms_attrs_free(&a);
}
END_TEST

START_TEST(test_token_reset)
{
	struct kms_attrs t = KMS_ATTRS_INIT, out = KMS_ATTRS_INIT;
	uint32_t t1 = 0, t2 = 0;
	uint64_t a, b, c;
	uint8_t *rec = NULL;
	size_t len = 0;

	ck_assert_rv(kms_store_token_number(st, "one", &t1), CKR_OK);
	ck_assert_rv(kms_store_token_number(st, "two", &t2), CKR_OK);
	a = mk(t1, CKO_PRIVATE_KEY, CKK_EC, "a", "A", true);
	b = mk(t1, CKO_DATA, ~0UL, "b", NULL, false);
	c = mk(t2, CKO_PRIVATE_KEY, CKK_EC, "a", "A", true);
	ck_assert_rv(kms_store_token_reset(st, t1, "one", (const uint8_t *)"REC1", 4), CKR_OK);
	ck_assert_rv(kms_store_obj_get(st, a, NULL, &out), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_rv(kms_store_obj_get(st, b, NULL, &out), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_rv(kms_store_obj_get(st, c, NULL, &out), CKR_OK);
	kms_attrs_free(&out);
	expect_find(t1, &t, true, 0);
	expect_find(t2, &t, true, 1, c);
	ck_assert_uint_eq(count_label(t1, "a"), 0);
	ck_assert_uint_eq(count_label(t2, "a"), 1);
	ck_assert_rv(kms_store_token_get(st, "one", &rec, &len), CKR_OK);
	ck_assert_uint_eq(len, 4);
	ck_assert_mem_eq(rec, "REC1", 4);
	free(rec);
}
END_TEST

static CK_RV upd_fail(void *ctx, const uint8_t *old, size_t oldlen, uint8_t **nrec, size_t *nlen)
{
	return CKR_PIN_INCORRECT;
}

static CK_RV upd_append(void *ctx, const uint8_t *old, size_t oldlen, uint8_t **nrec, size_t *nlen)
{
	int *seen_null = ctx;

	*seen_null = old == NULL;
	*nrec = malloc(oldlen + 1);
	if (!*nrec)
		return CKR_HOST_MEMORY;
	if (oldlen)
		memcpy(*nrec, old, oldlen);
	(*nrec)[oldlen] = '+';
	*nlen = oldlen + 1;
	return CKR_OK;
}

START_TEST(test_token_records)
{
	uint32_t a = 0, a2 = 0, b = 0;
	uint8_t *rec = NULL;
	size_t len = 1;
	int seen_null = -1;

	ck_assert_rv(kms_store_token_number(st, "a", &a), CKR_OK);
	ck_assert_rv(kms_store_token_number(st, "a", &a2), CKR_OK);
	ck_assert_uint_eq(a, a2);
	ck_assert_rv(kms_store_token_number(st, "b", &b), CKR_OK);
	ck_assert_uint_ne(a, b);
	reopen();
	ck_assert_rv(kms_store_token_number(st, "b", &a2), CKR_OK);
	ck_assert_uint_eq(b, a2);

	ck_assert_rv(kms_store_token_get(st, "a", &rec, &len), CKR_OK);
	ck_assert_ptr_null(rec);
	ck_assert_uint_eq(len, 0);
	ck_assert_rv(kms_store_token_update(st, "a", upd_append, &seen_null), CKR_OK);
	ck_assert_int_eq(seen_null, 1);
	ck_assert_rv(kms_store_token_put(st, "a", (const uint8_t *)"old", 3), CKR_OK);
	ck_assert_rv(kms_store_token_update(st, "a", upd_fail, NULL), CKR_PIN_INCORRECT);
	ck_assert_rv(kms_store_token_get(st, "a", &rec, &len), CKR_OK);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(rec, "old", 3);
	free(rec);
	ck_assert_rv(kms_store_token_update(st, "a", upd_append, &seen_null), CKR_OK);
	ck_assert_int_eq(seen_null, 0);
	ck_assert_rv(kms_store_token_get(st, "a", &rec, &len), CKR_OK);
	ck_assert_uint_eq(len, 4);
	ck_assert_mem_eq(rec, "old+", 4);
	free(rec);
	ck_assert_rv(kms_store_token_get(st, "b", &rec, &len), CKR_OK);
	ck_assert_ptr_null(rec);
}
END_TEST

START_TEST(test_long_keys)
{
	struct kms_attrs a, t = KMS_ATTRS_INIT;
	uint8_t big[2000];
	char lab[600];
	uint64_t x, y, l1, l2, l3;

	memset(big, 0xab, sizeof(big));
	mkobj(&a, CKO_CERTIFICATE, ~0UL, "x", NULL, false);
	ck_assert_int_eq(kms_attrs_set(&a, CKA_ID, big, sizeof(big)), 0);
	x = put_new(1, &a);
	big[sizeof(big) - 1] = 0xcd;
	ck_assert_int_eq(kms_attrs_set(&a, CKA_ID, big, sizeof(big)), 0);
	y = put_new(1, &a);
	kms_attrs_free(&a);
	ck_assert_int_eq(kms_attrs_set(&t, CKA_ID, big, sizeof(big)), 0);
	expect_find(1, &t, true, 1, y);
	big[sizeof(big) - 1] = 0xab;
	ck_assert_int_eq(kms_attrs_set(&t, CKA_ID, big, sizeof(big)), 0);
	expect_find(1, &t, true, 1, x);
	kms_attrs_free(&t);

	/* Labels around LMDB's key limit (511 bytes with the 4-byte token prefix). */
	memset(lab, 'L', sizeof(lab));
	lab[507] = '\0';
	l1 = mk(1, CKO_DATA, ~0UL, lab, NULL, false);
	lab[507] = 'L';
	lab[508] = '\0';
	l2 = mk(1, CKO_DATA, ~0UL, lab, NULL, false);
	lab[508] = 'L';
	lab[599] = '\0';
	l3 = mk(1, CKO_DATA, ~0UL, lab, NULL, false);
	ck_assert_uint_eq(count_label(1, lab), 1);
	lab[599] = 'L';
	lab[508] = '\0';
	ck_assert_uint_eq(count_label(1, lab), 1);
	lab[508] = 'L';
	lab[507] = '\0';
	ck_assert_uint_eq(count_label(1, lab), 1);
	ck_assert_rv(kms_store_obj_del(st, l2), CKR_OK);
	lab[507] = 'L';
	lab[508] = '\0';
	ck_assert_uint_eq(count_label(1, lab), 0);
	ck_assert_rv(kms_store_obj_del(st, y), CKR_OK);
	(void)l1;
	(void)l3;
}
END_TEST

START_TEST(test_fork_child)
{
	struct kms_attrs out = KMS_ATTRS_INIT;
	uint64_t a, c, *ids = NULL;
	size_t n = 0;
	pid_t pid;
	int status = -1;

	a = mk(1, CKO_DATA, ~0UL, "parent", NULL, false);
	/* Leave a pooled read transaction behind in the parent. */
	ck_assert_rv(kms_store_obj_get(st, a, NULL, &out), CKR_OK);
	kms_attrs_free(&out);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct kms_store *cs = NULL;
		struct kms_attrs b;
		uint64_t id = 0;

		kms_store_forget(st);
		st = NULL;
		if (kms_store_open(dir, &cs) != CKR_OK)
			_exit(10);
		if (kms_store_obj_get(cs, a, NULL, &out) != CKR_OK)
			_exit(11);
		kms_attrs_free(&out);
		kms_attrs_init(&b);
		kms_attrs_set_ulong(&b, CKA_CLASS, CKO_DATA);
		kms_attrs_set(&b, CKA_LABEL, "child", 5);
		if (kms_store_id_alloc(cs, &id) != CKR_OK || kms_store_obj_put(cs, 1, id, &b, true) != CKR_OK)
			_exit(12);
		kms_attrs_free(&b);
		kms_store_close(cs);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);

	/* The parent's environment, opened before the fork, sees the child's object. */
	ck_assert_uint_eq(count_label(1, "child"), 1);
	ck_assert_int_eq(kms_attrs_set(&out, CKA_LABEL, "child", 5), 0);
	ck_assert_rv(kms_store_obj_find(st, 1, &out, false, &ids, &n), CKR_OK);
	kms_attrs_free(&out);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_gt(ids[0], a);
	ck_assert_rv(kms_store_obj_get(st, ids[0], NULL, &out), CKR_OK);
	ck_assert_mem_eq(kms_attrs_get(&out, CKA_LABEL)->val, "child", 5);
	kms_attrs_free(&out);
	/* And still writes. */
	c = mk(1, CKO_DATA, ~0UL, "after", NULL, false);
	ck_assert_uint_gt(c, ids[0]);
	ck_assert_uint_eq(count_label(1, "after"), 1);
	free(ids);
}
END_TEST

/* The generation moves with every commit (here or in another process) and with nothing else. */
START_TEST(test_generation)
{
	struct kms_attrs out = KMS_ATTRS_INIT, t = KMS_ATTRS_INIT;
	uint64_t a, g0, g1, cg = 0, stamp = 0, *ids = NULL;
	uint8_t *rec = NULL;
	size_t n = 0, len = 0;
	double t0, t1;
	pid_t pid;
	int status = -1;

	ck_assert_uint_eq(kms_store_generation(NULL), 0);
	g0 = kms_store_generation(st);
	ck_assert_uint_gt(g0, 0); /* opening wrote the schema */
	a = mk(1, CKO_DATA, ~0UL, "g", NULL, false);
	g1 = kms_store_generation(st);
	ck_assert_uint_gt(g1, g0);
	ck_assert_rv(kms_store_obj_stamp(st, a, &stamp), CKR_OK);
	ck_assert_uint_eq(stamp, g1);
	/* Reads leave it alone, and a read copy carries the generation it was read at. */
	ck_assert_rv(kms_store_obj_get_gen(st, a, NULL, &out, &cg), CKR_OK);
	ck_assert_uint_eq(cg, g1);
	kms_attrs_free(&out);
	ck_assert_rv(kms_store_obj_find(st, 1, &t, true, &ids, &n), CKR_OK);
	free(ids);
	ck_assert_rv(kms_store_token_get(st, "none", &rec, &len), CKR_OK);
	ck_assert_rv(kms_store_obj_get(st, a + 100, NULL, &out), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(kms_store_generation(st), g1);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct kms_store *cs = NULL;

		kms_store_forget(st);
		if (kms_store_open(dir, &cs) != CKR_OK || kms_store_generation(cs) != g1)
			_exit(10);
		if (kms_store_token_put(cs, "child", (const uint8_t *)"r", 1) != CKR_OK)
			_exit(11);
		kms_store_close(cs);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	/* The child's commit shows: the copy read at g1 is no longer known to be current. */
	ck_assert_uint_gt(kms_store_generation(st), g1);
	ck_assert_uint_ne(kms_store_generation(st), cg);
	ck_assert_rv(kms_store_obj_get_gen(st, a, NULL, &out, &cg), CKR_OK);
	ck_assert_uint_eq(cg, kms_store_generation(st));
	kms_attrs_free(&out);

	t0 = now_s();
	g0 = 0;
	for (int i = 0; i < 1000000; i++)
		g0 += kms_store_generation(st);
	t1 = now_s();
	ck_assert_uint_eq(g0, 1000000 * cg);
	fprintf(stderr, "generation: %.1f ns per call\n", (t1 - t0) * 1e9 / 1000000);
}
END_TEST

START_TEST(test_sigkill)
{
	static uint64_t reported[100000];
	size_t nrep = 0, n = 0;
	struct kms_attrs out = KMS_ATTRS_INIT, t = KMS_ATTRS_INIT;
	uint64_t *ids = NULL;
	int fds[2], status;
	char label[32];
	pid_t pid;
	ssize_t r;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct kms_store *cs = NULL;
		uint8_t val[700];

		close(fds[0]);
		kms_store_forget(st);
		if (kms_store_open(dir, &cs) != CKR_OK)
			_exit(10);
		for (uint64_t i = 0;; i++) {
			struct kms_attrs a = KMS_ATTRS_INIT;
			uint64_t id = 0;

			snprintf(label, sizeof(label), "k%llu", (unsigned long long)i);
			memset(val, (int)i, sizeof(val));
			kms_attrs_set_ulong(&a, CKA_CLASS, CKO_DATA);
			kms_attrs_set(&a, CKA_LABEL, label, strlen(label));
			kms_attrs_set(&a, CKA_VALUE, val, sizeof(val));
			kms_attrs_set_ulong(&a, CKA_VENDOR_DEFINED, (unsigned long)i);
			if (kms_store_id_alloc(cs, &id) != CKR_OK || kms_store_obj_put(cs, 1, id, &a, true) != CKR_OK)
				_exit(11);
			kms_attrs_free(&a);
			if (write(fds[1], &id, sizeof(id)) != sizeof(id))
				_exit(12);
		}
	}
	close(fds[1]);
	while (nrep < 300) {
		r = read(fds[0], &reported[nrep], sizeof(reported[0]));
		ck_assert_int_eq(r, sizeof(reported[0]));
		nrep++;
	}
	/* Land the kill at a varying point of the child's next transaction. */
	usleep((useconds_t)(getpid() % 700));
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	while (nrep < sizeof(reported) / sizeof(reported[0]) &&
	       (r = read(fds[0], &reported[nrep], sizeof(reported[0]))) == sizeof(reported[0]))
		nrep++;
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);

	reopen();
	for (size_t i = 0; i < nrep; i++) {
		unsigned long seq = 0;
		const struct kms_attr *l;

		ck_assert_rv(kms_store_obj_get(st, reported[i], NULL, &out), CKR_OK);
		ck_assert_int_eq(kms_attrs_get_ulong(&out, CKA_VENDOR_DEFINED, &seq), 0);
		ck_assert_uint_eq(seq, i);
		snprintf(label, sizeof(label), "k%lu", seq);
		l = kms_attrs_get(&out, CKA_LABEL);
		ck_assert_ptr_nonnull(l);
		ck_assert_uint_eq(l->len, strlen(label));
		ck_assert_mem_eq(l->val, label, l->len);
		ck_assert_uint_eq(kms_attrs_get(&out, CKA_VALUE)->len, 700);
		kms_attrs_free(&out);
	}
	/* Every object that made it is whole; the writer lock of the dead child is recovered. */
	ck_assert_rv(kms_store_obj_find(st, 1, &t, true, &ids, &n), CKR_OK);
	ck_assert_uint_ge(n, nrep);
	for (size_t i = 0; i < n; i++) {
		ck_assert_rv(kms_store_obj_get(st, ids[i], NULL, &out), CKR_OK);
		kms_attrs_free(&out);
	}
	free(ids);
	mk(1, CKO_DATA, ~0UL, "after-crash", NULL, false);
	ck_assert_uint_eq(count_label(1, "after-crash"), 1);
	fprintf(stderr, "sigkill: %zu committed objects reported before the kill, all present\n", nrep);
}
END_TEST

#define NREAD_THREADS 4
#define NLABELS 40

static atomic_int thr_done;
static atomic_long thr_errors;
static atomic_long thr_reads;

static void *reader(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;

	while (!atomic_load(&thr_done)) {
		struct kms_attrs t = KMS_ATTRS_INIT, out = KMS_ATTRS_INIT;
		const struct kms_attr *l;
		uint64_t *ids = NULL, stamp = 0;
		size_t n = 0;
		char label[16];

		snprintf(label, sizeof(label), "t%u", rand_r(&seed) % NLABELS);
		kms_attrs_set(&t, CKA_LABEL, label, strlen(label));
		if (kms_store_obj_find(st, 1, &t, true, &ids, &n) != CKR_OK || n != 1) {
			atomic_fetch_add(&thr_errors, 1);
		} else {
			if (kms_store_obj_stamp(st, ids[0], &stamp) != CKR_OK || stamp == 0)
				atomic_fetch_add(&thr_errors, 1);
			if (kms_store_obj_get(st, ids[0], NULL, &out) != CKR_OK)
				atomic_fetch_add(&thr_errors, 1);
			l = kms_attrs_get(&out, CKA_LABEL);
			if (!l || l->len != strlen(label) || memcmp(l->val, label, l->len) != 0)
				atomic_fetch_add(&thr_errors, 1);
		}
		free(ids);
		kms_attrs_free(&t);
		kms_attrs_free(&out);
		/* Also an index walk, which races with the writer's creates and deletes. */
		if (kms_store_obj_find(st, 1, &t, false, &ids, &n) != CKR_OK || n < NLABELS)
			atomic_fetch_add(&thr_errors, 1);
		free(ids);
		atomic_fetch_add(&thr_reads, 1);
	}
	return NULL;
}

START_TEST(test_threads)
{
	pthread_t th[NREAD_THREADS];
	uint64_t fixed[NLABELS], extra = 0;
	char label[16];

	for (int i = 0; i < NLABELS; i++) {
		snprintf(label, sizeof(label), "t%d", i);
		fixed[i] = mk(1, CKO_DATA, ~0UL, label, NULL, false);
	}
	atomic_store(&thr_done, 0);
	atomic_store(&thr_errors, 0);
	atomic_store(&thr_reads, 0);
	for (int i = 0; i < NREAD_THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, reader, (void *)(uintptr_t)(i + 1)), 0);
	for (int it = 0; it < 300; it++) {
		struct kms_attrs a;
		uint32_t v = (uint32_t)it;

		/* Replace one fixed object (same label, new value), and churn a transient one. */
		snprintf(label, sizeof(label), "t%d", it % NLABELS);
		mkobj(&a, CKO_DATA, ~0UL, label, NULL, false);
		ck_assert_int_eq(kms_attrs_set(&a, CKA_VALUE, &v, sizeof(v)), 0);
		ck_assert_rv(kms_store_obj_put(st, 1, fixed[it % NLABELS], &a, false), CKR_OK);
		kms_attrs_free(&a);
		if (extra)
			ck_assert_rv(kms_store_obj_del(st, extra), CKR_OK);
		extra = mk(1, CKO_DATA, ~0UL, "transient", NULL, it % 2 == 0);
	}
	atomic_store(&thr_done, 1);
	for (int i = 0; i < NREAD_THREADS; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(atomic_load(&thr_errors), 0);
	ck_assert_int_gt(atomic_load(&thr_reads), 0);
	fprintf(stderr, "threads: %ld reader iterations during 300 writes\n", (long)atomic_load(&thr_reads));
}
END_TEST

START_TEST(test_map_full)
{
	char small[128];
	struct kms_store *s2 = NULL;
	struct kms_attrs a = KMS_ATTRS_INIT, out = KMS_ATTRS_INIT;
	uint8_t val[4096];
	uint64_t first = 0, id;
	CK_RV rv = CKR_OK;
	int i;

	snprintf(small, sizeof(small), "%s/small", dir);
	setenv("KMS11_STORE_MAPSIZE", "1048576", 1);
	ck_assert_rv(kms_store_open(small, &s2), CKR_OK);
	unsetenv("KMS11_STORE_MAPSIZE");
	memset(val, 1, sizeof(val));
	ck_assert_int_eq(kms_attrs_set(&a, CKA_VALUE, val, sizeof(val)), 0);
	for (i = 0; i < 1000 && rv == CKR_OK; i++) {
		ck_assert_rv(kms_store_id_alloc(s2, &id), CKR_OK);
		if (!first)
			first = id;
		rv = kms_store_obj_put(s2, 1, id, &a, true);
	}
	ck_assert_rv(rv, CKR_DEVICE_MEMORY);
	ck_assert_rv(kms_store_obj_get(s2, first, NULL, &out), CKR_OK);
	ck_assert_uint_eq(kms_attrs_get(&out, CKA_VALUE)->len, sizeof(val));
	kms_attrs_free(&out);
	kms_attrs_free(&a);
	kms_store_close(s2);
}
END_TEST

START_TEST(test_open_dirs)
{
	char deep[128], file[128];
	struct kms_store *s2 = NULL;
	struct stat sb;
	FILE *f;

	snprintf(deep, sizeof(deep), "%s/a/b/c", dir);
	ck_assert_rv(kms_store_open(deep, &s2), CKR_OK);
	kms_store_close(s2);
	ck_assert_int_eq(stat(deep, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0700);
	snprintf(file, sizeof(file), "%s/plain", dir);
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	s2 = NULL;
	ck_assert_rv(kms_store_open(file, &s2), CKR_DEVICE_ERROR);
	ck_assert_ptr_null(s2);
}
END_TEST

/* Figures only, printed: find, stamp and get among 20,000 objects. The timed loops assert once at
 * the end: check's ck_assert records its location through the parent pipe on every call (a system
 * call, about 1.4 us), which would swamp sub-microsecond figures. */
START_TEST(test_timing)
{
	enum { NOBJ = 20000, NFIND = 20000 };
	struct kms_attrs a, t = KMS_ATTRS_INIT;
	unsigned int seed = 7;
	char label[32];
	long bad = 0;
	double t0, t1, t2, t3, t4;

	t0 = now_s();
	for (int i = 0; i < NOBJ; i++) {
		snprintf(label, sizeof(label), "key-%05d", i);
		mkobj(&a, i % 2 ? CKO_PUBLIC_KEY : CKO_PRIVATE_KEY, CKK_EC, label, label, i % 2 == 0);
		put_new(1, &a);
		kms_attrs_free(&a);
	}
	t1 = now_s();
	for (int i = 0; i < NFIND; i++) {
		uint64_t *ids = NULL;
		size_t n = 0;

		snprintf(label, sizeof(label), "key-%05u", rand_r(&seed) % NOBJ);
		kms_attrs_set(&t, CKA_LABEL, label, strlen(label));
		if (kms_store_obj_find(st, 1, &t, true, &ids, &n) != CKR_OK || n != 1)
			bad++;
		free(ids);
	}
	t2 = now_s();
	for (int i = 0; i < 10 * NFIND; i++) {
		uint64_t stamp = 0;

		if (kms_store_obj_stamp(st, 1 + rand_r(&seed) % NOBJ, &stamp) != CKR_OK || stamp == 0)
			bad++;
	}
	t3 = now_s();
	for (int i = 0; i < NFIND; i++) {
		struct kms_attrs out = KMS_ATTRS_INIT;

		if (kms_store_obj_get(st, 1 + rand_r(&seed) % NOBJ, NULL, &out) != CKR_OK || out.n == 0)
			bad++;
		kms_attrs_free(&out);
	}
	t4 = now_s();
	kms_attrs_free(&t);
	ck_assert_int_eq(bad, 0);
	fprintf(stderr, "timing: %d creates (id alloc + put, 2 transactions each) in %.2f s (%.0f us each); "
		"among %d objects: find by label %.2f us, obj_stamp %.2f us, obj_get %.2f us\n",
		NOBJ, t1 - t0, (t1 - t0) * 1e6 / NOBJ, NOBJ, (t2 - t1) * 1e6 / NFIND,
		(t3 - t2) * 1e6 / (10 * NFIND), (t4 - t3) * 1e6 / NFIND);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("core");
	TCase *tp = tcase_create("process");
	TCase *tt = tcase_create("timing");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_put_get_del);
	tcase_add_test(tc, test_ids_not_reused);
	tcase_add_test(tc, test_id_alloc_many);
	tcase_add_test(tc, test_create_many);
	tcase_add_test(tc, test_find);
	tcase_add_test(tc, test_replace_reindexes);
	tcase_add_test(tc, test_token_reset);
	tcase_add_test(tc, test_token_records);
	tcase_add_test(tc, test_long_keys);
	tcase_add_test(tc, test_map_full);
	tcase_add_test(tc, test_open_dirs);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_set_timeout(tp, 120);
	tcase_add_test(tp, test_fork_child);
	tcase_add_test(tp, test_generation);
	tcase_add_test(tp, test_sigkill);
	tcase_add_test(tp, test_threads);
	suite_add_tcase(s, tp);

	tcase_add_checked_fixture(tt, setup, teardown);
	tcase_set_timeout(tt, 280);
	tcase_add_test(tt, test_timing);
	suite_add_tcase(s, tt);
	return s;
}

int main(void)
{
	return kms_test_run(store_suite());
}
