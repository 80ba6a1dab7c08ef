/* SPDX-License-Identifier: Apache-2.0 */
/* kms11-bench-mgmt: the management plane at scale, inside the library (no process start): a store seeded with N
 * keys (AES, one object each; 1% tagged "one-percent", every key with a name and an alias), then the first and
 * the next page of a one-tag list sorted by creation time, and get by alias and by name. Medians, in ms and µs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "module/kms/kms.h"

#define PIN "1234"
#define SO_PIN "12345678"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), dcmp);
	return v[n / 2];
}

static int die(const char *what, const struct kms_err *e)
{
	fprintf(stderr, "kms11-bench-mgmt: %s: %s\n", what, e ? e->msg : "failed");
	return 1;
}

/* Makes the token and logs in. */
static int setup(struct kms_login *l, struct kms_err *e)
{
	struct kms_token *tok;

	if (kms_mgr_start(e) != KMS_OK || kms_mgr_token(NULL, &tok, e) != KMS_OK)
		return -1;
	if (kms_token_init(tok, SO_PIN, 8, "bench", PIN, 4) != CKR_OK)
		return -1;
	return kms_mgr_login(tok, PIN, l, e) == KMS_OK ? 0 : -1;
}

/* N secret keys through the core, with their facts. */
static int seed(struct kms_login *l, size_t n)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG len = 32;
	CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};

	for (size_t i = 0; i < n; i++) {
		struct kms_attrs facts = KMS_ATTRS_INIT;
		char name[32], alias[40];
		CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
				    {CKA_TOKEN, &yes, 1},	    {CKA_PRIVATE, &yes, 1},
				    {CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_LABEL, name, 0}};
		CK_OBJECT_HANDLE h;
		CK_RV rv;

		snprintf(name, sizeof(name), "key-%zu", i);
		t[5].ulValueLen = strlen(name);
		snprintf(alias, sizeof(alias), "alias-%zu", i);
		kms_attrs_set(&facts, CKA_KMS11_ALIASES, alias, strlen(alias) + 1);
		if (i % 100 == 0)
			kms_attrs_set(&facts, CKA_KMS11_TAGS, "one-percent", 12);
		else
			kms_attrs_set(&facts, CKA_KMS11_TAGS, "bulk", 5);
		l->s->facts = &facts;
		rv = kms_obj_generate_secret(l->s, &m, t, 6, &h);
		l->s->facts = NULL;
		kms_attrs_free(&facts);
		if (rv != CKR_OK) {
			fprintf(stderr, "kms11-bench-mgmt: key %zu: 0x%lx\n", i, (unsigned long)rv);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	char dir[] = "/dev/shm/kms11-bench-mgmt.XXXXXX", store[300], cmd[400];
	const char *filter = "tags[contains]one-percent";
	struct kms_query q = {.filters = &filter, .nfilters = 1, .sort_by = "creation_ts", .page_size = 25};
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000, rounds = 21, lookups = 201;
	double first[21], next[21], by_alias[201], by_name[201], t0, seeding;
	struct kms_login l;
	struct kms_err e = {0};
	char *bookmark = NULL;
	int ret = 1;

	if (n < 200) {
		fprintf(stderr, "usage: kms11-bench-mgmt [KEYS (at least 200; default 100000)]\n");
		return 2;
	}
	if (!mkdtemp(dir))
		return die("mkdtemp", NULL);
	snprintf(store, sizeof(store), "%s/store", dir);
	setenv("KMS11_STORE", store, 1);
	unsetenv("KMS11_CONF");
	if (!getenv("KMS11_STORE_MAPSIZE"))
		setenv("KMS11_STORE_MAPSIZE", "17179869184", 1); /* 16 GiB of address space: room for a million keys */
	if (setup(&l, &e) != 0) {
		die("token setup", &e);
		goto out;
	}
	printf("kms11-bench-mgmt: %zu keys in %s\n", n, store);
	t0 = now_us();
	if (seed(&l, n) != 0)
		goto out;
	seeding = now_us() - t0;
	printf("  seeded %zu keys in %.1f s (%.0f keys/s, one store transaction each)\n", n, seeding / 1e6, n / (seeding / 1e6));
	for (size_t r = 0; r < rounds; r++) {
		json_t *out = NULL;

		q.bookmark = NULL;
		t0 = now_us();
		if (kms_key_query(&q, KMS_QUERY_LIST, &out, &e) != KMS_OK) {
			die("list", &e);
			goto out;
		}
		first[r] = (now_us() - t0) / 1e3;
		if (r == 0) {
			if (json_array_size(json_object_get(out, "list")) != 25) {
				fprintf(stderr, "kms11-bench-mgmt: the first page has %zu keys, not 25\n",
					json_array_size(json_object_get(out, "list")));
				json_decref(out);
				goto out;
			}
			bookmark = strdup(json_string_value(json_object_get(out, "next")));
		}
		json_decref(out);
		q.bookmark = bookmark;
		t0 = now_us();
		if (kms_key_query(&q, KMS_QUERY_LIST, &out, &e) != KMS_OK) {
			die("list (next page)", &e);
			goto out;
		}
		next[r] = (now_us() - t0) / 1e3;
		json_decref(out);
	}
	srand(7);
	for (size_t i = 0; i < lookups; i++) {
		size_t k = (size_t)rand() % n;
		char arg[40];
		struct kms_key key;
		json_t *j;

		snprintf(arg, sizeof(arg), "alias-%zu", k);
		t0 = now_us();
		if (kms_key_resolve(arg, NULL, &key, &e) != KMS_OK) {
			die("get by alias", &e);
			goto out;
		}
		j = kms_key_json(&key);
		by_alias[i] = now_us() - t0;
		json_decref(j);
		kms_key_free(&key);
		snprintf(arg, sizeof(arg), "key-%zu", k);
		t0 = now_us();
		if (kms_key_resolve(arg, NULL, &key, &e) != KMS_OK) {
			die("get by name", &e);
			goto out;
		}
		j = kms_key_json(&key);
		by_name[i] = now_us() - t0;
		json_decref(j);
		kms_key_free(&key);
	}
	printf("  list, tag filter matching 1%% (%zu keys), sorted by creation_ts, page of 25 (median of %zu):\n", n / 100,
	       rounds);
	printf("    first page %8.2f ms   (target <= 5 ms)\n", median(first, rounds));
	printf("    next page  %8.2f ms   (target <= 5 ms)\n", median(next, rounds));
	printf("  get (resolve + key object as JSON), median of %zu:\n", lookups);
	printf("    by alias   %8.1f us   (target <= 200 us)\n", median(by_alias, lookups));
	printf("    by name    %8.1f us   (target <= 200 us)\n", median(by_name, lookups));
	ret = 0;
out:
	free(bookmark);
	kms_mgr_logout(&l);
	kms_mgr_stop();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "kms11-bench-mgmt: could not remove %s\n", dir);
	return ret;
}
