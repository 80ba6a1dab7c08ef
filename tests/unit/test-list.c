/* SPDX-License-Identifier: Apache-2.0 */
/* kms_key_query's list pages against an oracle: two tokens, 300 keys with chosen key ids, creation times shared by
 * several keys of both tokens, tags of several selectivities, disabled keys and rotated keys (a second version
 * created later). Every page walk, in both directions and at several page sizes, must give exactly the oracle's
 * order, whichever way the query reads (the creation-time index, or every candidate record and a sort). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "tests/unit/testutil.h"

#include "common/util.h"
#include "include/kms11.h"
#include "module/kms/kms.h"

#define PIN "1234"
#define SO_PIN "12345678"
#define NKEYS 300
#define BASE_T 1767225600 /* 2026-01-01T00:00:00Z */

struct okey {
	char kid[40];
	const char *engine;
	time_t t;
	bool half, few, disabled, rotated;
};

static struct okey keys[NKEYS];
static struct kms_login logins[2];
static char dir[64];

static int token_setup(const char *name, struct kms_login *l)
{
	struct kms_err e = {0};
	struct kms_token *tok;

	if (kms_mgr_token(name, &tok, &e) != KMS_OK || kms_token_init(tok, SO_PIN, 8, name, PIN, 4) != CKR_OK)
		return -1;
	return kms_mgr_login(tok, PIN, l, &e);
}

/* An AES token key named name in l's token with the facts given: key id, creation time, tags (a kms11.h list of
 * tagslen bytes, or none) and state (0: the default). */
static void aes_key(struct kms_login *l, const char *name, const char *kid, time_t t, const char *tags, size_t tagslen,
		    unsigned long state)
{
	struct kms_attrs facts = KMS_ATTRS_INIT;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG len = 16;
	CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)}, {CKA_TOKEN, &yes, 1},
			       {CKA_PRIVATE, &yes, 1},	  {CKA_VALUE_LEN, &len, sizeof(len)},
			       {CKA_LABEL, (void *)name, (CK_ULONG)strlen(name)}};
	CK_OBJECT_HANDLE h;
	char created[32];

	kms_time_iso8601(t, created, sizeof(created));
	ck_assert_int_eq(kms_attrs_set(&facts, CKA_KMS11_KEY_ID, kid, strlen(kid)), 0);
	ck_assert_int_eq(kms_attrs_set(&facts, CKA_KMS11_CREATED, created, strlen(created)), 0);
	if (tagslen)
		ck_assert_int_eq(kms_attrs_set(&facts, CKA_KMS11_TAGS, tags, tagslen), 0);
	if (state)
		ck_assert_int_eq(kms_attrs_set_ulong(&facts, CKA_KMS11_STATE, state), 0);
	l->s->facts = &facts;
	ck_assert_uint_eq(kms_obj_generate_secret(l->s, &m, tmpl, 6, &h), CKR_OK);
	l->s->facts = NULL;
	kms_attrs_free(&facts);
}

/* Key i of the oracle, made with its facts. */
static void make_key(size_t i)
{
	struct okey *k = &keys[i];
	char name[32], tags[32];
	size_t tl = 0;

	/* Key ids in no order related to i; about eight keys share each second, in both tokens. */
	snprintf(k->kid, sizeof(k->kid), "%08lx%03zu", (unsigned long)((i * 2654435761u) & 0xffffffffu), i);
	k->engine = i % 3 == 0 ? "beta" : "alpha";
	k->t = BASE_T + (time_t)((i * 7) % 37);
	k->half = i % 2 == 0;
	k->few = i % 50 == 7;
	k->disabled = i % 10 == 3;
	k->rotated = i % 25 == 4;
	snprintf(name, sizeof(name), "key-%zu", i);
	memcpy(tags + tl, "every", 6), tl += 6;
	if (k->half)
		memcpy(tags + tl, "half", 5), tl += 5;
	if (k->few)
		memcpy(tags + tl, "few", 4), tl += 4;
	aes_key(&logins[i % 3 == 0], name, k->kid, k->t, tags, tl, k->disabled ? KMS11_STATE_DISABLED : 0);
}

static void rotate(size_t i)
{
	struct kms_err e = {0};
	struct kms_key k;

	ck_assert_msg(kms_key_load(logins[i % 3 == 0].tok, keys[i].kid, &k, &e) == KMS_OK, "load %s: %s", keys[i].kid,
		      e.msg);
	ck_assert_msg(kms_key_rotate(&logins[i % 3 == 0], &k, NULL, 0, &e) == KMS_OK, "rotate: %s", e.msg);
	ck_assert_uint_eq(k.nvers, 2);
	kms_key_free(&k);
}

static void setup(void)
{
	char conf[300];
	struct kms_err e = {0};

	snprintf(dir, sizeof(dir), "/tmp/kms11-test-list.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	kms_test_conf(dir, "[token:alpha]\nengine = openssl\n\n[token:beta]\nengine = openssl\n");
	snprintf(conf, sizeof(conf), "%s/store", dir);
	setenv("KMS11_STORE", conf, 1);
	ck_assert_msg(kms_mgr_start(&e) == KMS_OK, "start: %s", e.msg);
	ck_assert_int_eq(token_setup("alpha", &logins[0]), 0);
	ck_assert_int_eq(token_setup("beta", &logins[1]), 0);
	for (size_t i = 0; i < NKEYS; i++)
		make_key(i);
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].rotated)
			rotate(i);
}

static void teardown(void)
{
	char cmd[400];

	kms_mgr_logout(&logins[0]);
	kms_mgr_logout(&logins[1]);
	kms_mgr_stop();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The oracle: which keys a filter selects, and their list order (time, engine, key id; reversed for desc). */
enum sel { ALL, HALF, FEW, DISABLED, HALF_ENABLED, NONE };

static bool selected(const struct okey *k, enum sel s)
{
	switch (s) {
	case ALL:
		return true;
	case HALF:
		return k->half;
	case FEW:
		return k->few;
	case DISABLED:
		return k->disabled;
	case HALF_ENABLED:
		return k->half && !k->disabled;
	default:
		return false;
	}
}

static int ocmp(const void *a, const void *b)
{
	const struct okey *x = *(const struct okey *const *)a, *y = *(const struct okey *const *)b;
	int c = (x->t > y->t) - (x->t < y->t);

	if (c == 0)
		c = strcmp(x->engine, y->engine);
	return c ? c : strcmp(x->kid, y->kid);
}

/* Walks every page of the query and compares the key ids seen, in order, with the oracle's. */
static void check_walk(const char *filter, enum sel s, bool desc, size_t page)
{
	const struct okey *want[NKEYS];
	const char *filters[2] = {filter, NULL};
	struct kms_query q = {.filters = filters, .nfilters = filter ? 1 : 0, .desc = desc, .page_size = page};
	size_t nwant = 0, seen = 0, pages = 0;
	char *bookmark = NULL;
	struct kms_err e = {0};
	json_t *out;

	for (size_t i = 0; i < NKEYS; i++)
		if (selected(&keys[i], s))
			want[nwant++] = &keys[i];
	qsort(want, nwant, sizeof(want[0]), ocmp);
	do {
		json_t *list, *it;
		size_t idx;

		q.bookmark = bookmark;
		ck_assert_msg(kms_key_query(&q, KMS_QUERY_LIST, &out, &e) == KMS_OK, "%s: %s", filter, e.msg);
		list = json_object_get(out, "list");
		json_array_foreach(list, idx, it) {
			size_t pos = desc ? nwant - 1 - seen : seen;
			const char *kid = json_string_value(json_object_get(it, "key_id"));

			ck_assert_msg(seen < nwant, "%s %s page %zu: more keys than the oracle's %zu", filter ? filter : "-",
				      desc ? "desc" : "asc", page, nwant);
			ck_assert_msg(kid && !strcmp(kid, want[pos]->kid), "%s %s page size %zu: key %zu is %s, want %s",
				      filter ? filter : "-", desc ? "desc" : "asc", page, seen, kid, want[pos]->kid);
			seen++;
		}
		ck_assert_msg(json_array_size(list) == page || !*json_string_value(json_object_get(out, "next")),
			      "a page short of its size has a next bookmark");
		free(bookmark);
		bookmark = *json_string_value(json_object_get(out, "next")) ? strdup(json_string_value(json_object_get(out, "next")))
									      : NULL;
		json_decref(out);
		ck_assert_uint_lt(++pages, NKEYS + 2);
	} while (bookmark);
	ck_assert_msg(seen == nwant, "%s %s page size %zu: %zu keys seen, want %zu", filter ? filter : "-",
		      desc ? "desc" : "asc", page, seen, nwant);
	q.bookmark = NULL;
	ck_assert_int_eq(kms_key_query(&q, KMS_QUERY_COUNT, &out, &e), KMS_OK);
	ck_assert_int_eq(json_integer_value(json_object_get(out, "count")), (json_int_t)nwant);
	json_decref(out);
}

static const struct {
	const char *filter;
	enum sel sel;
} cases[] = {
	{NULL, ALL},
	{"tags[contains]half", HALF},
	{"tags[contains]few", FEW},
	{"state[eq]disabled", DISABLED},
	{"tags[contains]half;state[eq]enabled", HALF_ENABLED},
	{"tags[contains]none-has-it", NONE},
	{"state[eq]pending_deletion", NONE},
};

START_TEST(test_walks)
{
	static const size_t pages[] = {1, 7, 25, 1000};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		for (size_t p = 0; p < sizeof(pages) / sizeof(pages[0]); p++) {
			check_walk(cases[c].filter, cases[c].sel, false, pages[p]);
			check_walk(cases[c].filter, cases[c].sel, true, pages[p]);
		}
}
END_TEST

/* A bookmark is a position: a key made afterwards with an earlier creation time is not on the next pages, one with
 * a later time is; a deleted key not yet shown is not. */
START_TEST(test_bookmark_position)
{
	const char *filters[1] = {NULL};
	struct kms_query q = {.filters = filters, .nfilters = 0, .page_size = 10};
	struct kms_err e = {0};
	json_t *out;
	char *bm;
	size_t n = 0;
	bool saw_later = false, saw_earlier = false;

	ck_assert_int_eq(kms_key_query(&q, KMS_QUERY_LIST, &out, &e), KMS_OK);
	bm = strdup(json_string_value(json_object_get(out, "next")));
	json_decref(out);
	ck_assert(*bm);
	/* Two new keys: one created before every key, one after. */
	aes_key(&logins[0], "earlier", "zz-earlier", BASE_T - 100, NULL, 0, 0);
	aes_key(&logins[0], "later", "zz-later", BASE_T + 1000, NULL, 0, 0);
	q.bookmark = bm;
	do {
		json_t *it;
		size_t idx;

		ck_assert_int_eq(kms_key_query(&q, KMS_QUERY_LIST, &out, &e), KMS_OK);
		json_array_foreach(json_object_get(out, "list"), idx, it) {
			const char *kid = json_string_value(json_object_get(it, "key_id"));

			saw_later |= !strcmp(kid, "zz-later");
			saw_earlier |= !strcmp(kid, "zz-earlier");
			n++;
		}
		free(bm);
		bm = *json_string_value(json_object_get(out, "next")) ? strdup(json_string_value(json_object_get(out, "next"))) : NULL;
		q.bookmark = bm;
		json_decref(out);
	} while (bm);
	ck_assert_msg(saw_later, "a key created after the position is on the next pages");
	ck_assert_msg(!saw_earlier, "a key created before the position is not");
	ck_assert_uint_eq(n, NKEYS - 10 + 1);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("list");
	TCase *tc = tcase_create("list");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_walks);
	tcase_add_test(tc, test_bookmark_position);
	suite_add_tcase(su, tc);
	return kms_test_run(su);
}
