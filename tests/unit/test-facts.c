/* SPDX-License-Identifier: Apache-2.0 */
/* The management facts of kms11.h through plain PKCS#11: defaults, list matching in C_FindObjects, read-only
 * facts, value checks, aliases unique across the store, facts shared by the objects of one key, and the
 * schema upgrade of an older store that fills the new indexes. */
#include "include/kms11.h"
#include "tests/unit/modfixture.h"

static CK_BBOOL yes = CK_TRUE;
static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

/* A token key pair named label; extra (n of them) go into both templates. */
static CK_RV pair(CK_SESSION_HANDLE s, const char *label, CK_ATTRIBUTE *extra, CK_ULONG n, CK_OBJECT_HANDLE *pub,
		  CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_ATTRIBUTE pt[8] = {{CKA_TOKEN, &yes, 1},
			      {CKA_EC_PARAMS, (void *)p256, sizeof(p256)},
			      {CKA_LABEL, (void *)label, (CK_ULONG)strlen(label)},
			      {CKA_VERIFY, &yes, 1}};
	CK_ATTRIBUTE kt[8] = {{CKA_TOKEN, &yes, 1}, {CKA_LABEL, (void *)label, (CK_ULONG)strlen(label)},
			      {CKA_SIGN, &yes, 1}};

	for (CK_ULONG i = 0; i < n; i++) {
		pt[4 + i] = extra[i];
		kt[3 + i] = extra[i];
	}
	return f->C_GenerateKeyPair(s, &m, pt, 4 + n, kt, 3 + n, pub, priv);
}

static CK_ULONG find_n(CK_SESSION_HANDLE s, CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out, CK_ULONG max)
{
	CK_OBJECT_HANDLE buf[64];
	CK_ULONG got = 0;

	ck_assert_rv(f->C_FindObjectsInit(s, t, n), CKR_OK);
	ck_assert_rv(f->C_FindObjects(s, out ? out : buf, out ? max : 64, &got), CKR_OK);
	ck_assert_rv(f->C_FindObjectsFinal(s), CKR_OK);
	return got;
}

static CK_ULONG find_tag(CK_SESSION_HANDLE s, const void *tag, CK_ULONG len)
{
	CK_ATTRIBUTE t = {CKA_KMS11_TAGS, (void *)tag, len};

	return find_n(s, &t, 1, NULL, 0);
}

START_TEST(test_defaults)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE pub, priv;
	CK_ULONG state = 0, version = 0, days = 9;
	CK_BBOOL primary = CK_FALSE;
	char meta[16], kid[80];
	CK_ATTRIBUTE t[] = {{CKA_KMS11_STATE, &state, sizeof(state)},
			    {CKA_KMS11_VERSION, &version, sizeof(version)},
			    {CKA_KMS11_ROTATION_DAYS, &days, sizeof(days)},
			    {CKA_KMS11_PRIMARY, &primary, 1},
			    {CKA_KMS11_METADATA, meta, sizeof(meta)},
			    {CKA_KMS11_TAGS, NULL, 0},
			    {CKA_KMS11_ALIASES, NULL, 0},
			    {CKA_KMS11_EXPIRATION_DATE, NULL, 0},
			    {CKA_KMS11_KEY_ID, kid, sizeof(kid)}};

	setup_token();
	s = user_session();
	ck_assert_rv(pair(s, "plain", NULL, 0, &pub, &priv), CKR_OK);
	ck_assert_rv(f->C_GetAttributeValue(s, priv, t, 9), CKR_OK);
	ck_assert_uint_eq(state, KMS11_STATE_ENABLED);
	ck_assert_uint_eq(version, 1);
	ck_assert_uint_eq(days, 0);
	ck_assert_uint_eq(primary, CK_TRUE);
	ck_assert_uint_eq(t[4].ulValueLen, 2);
	ck_assert(memcmp(meta, "{}", 2) == 0);
	ck_assert_uint_eq(t[5].ulValueLen, 0);
	ck_assert_uint_eq(t[6].ulValueLen, 0);
	ck_assert_uint_eq(t[7].ulValueLen, 0);
	ck_assert_uint_eq(t[8].ulValueLen, 64);
	/* An empty tag value finds keys without tags; no data object answers a default. */
	ck_assert_uint_eq(find_tag(s, "", 0), 2);
	/* The state index holds key objects without a state as enabled. */
	{
		CK_ULONG en = KMS11_STATE_ENABLED, dis = KMS11_STATE_DISABLED;
		CK_ATTRIBUTE st = {CKA_KMS11_STATE, &en, sizeof(en)};

		ck_assert_uint_eq(find_n(s, &st, 1, NULL, 0), 2);
		st.pValue = &dis;
		ck_assert_uint_eq(find_n(s, &st, 1, NULL, 0), 0);
	}
	teardown_store();
}
END_TEST

START_TEST(test_tags_find_and_share)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE pub, priv, pub2, priv2, h[4];
	const char tags[] = "prod\0web\0", other[] = "dev\0";
	const char meta[] = "{\"owner\":\"sec\"}";
	CK_ATTRIBUTE extra[] = {{CKA_KMS11_TAGS, (void *)tags, sizeof(tags) - 1},
				{CKA_KMS11_METADATA, (void *)meta, sizeof(meta) - 1}};
	CK_ATTRIBUTE set = {CKA_KMS11_TAGS, (void *)other, sizeof(other) - 1};
	char buf[64];
	CK_ATTRIBUTE get = {CKA_KMS11_TAGS, buf, sizeof(buf)};

	setup_token();
	s = user_session();
	ck_assert_rv(pair(s, "web", extra, 2, &pub, &priv), CKR_OK);
	ck_assert_rv(pair(s, "other", NULL, 0, &pub2, &priv2), CKR_OK);
	ck_assert_rv(f->C_GetAttributeValue(s, pub, &get, 1), CKR_OK);
	ck_assert_uint_eq(get.ulValueLen, sizeof(tags) - 1);
	ck_assert(memcmp(buf, tags, sizeof(tags) - 1) == 0);
	/* One element, with or without its NUL, finds both halves of the key; a prefix is not an element. */
	ck_assert_uint_eq(find_tag(s, "web", 3), 2);
	ck_assert_uint_eq(find_tag(s, "prod", 5), 2);
	ck_assert_uint_eq(find_tag(s, "pro", 3), 0);
	ck_assert_uint_eq(find_tag(s, "none", 4), 0);
	{
		CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
		CK_ATTRIBUTE t[] = {{CKA_KMS11_TAGS, "web", 3}, {CKA_CLASS, &cls, sizeof(cls)}};

		ck_assert_uint_eq(find_n(s, t, 2, h, 4), 1);
		ck_assert_uint_eq(h[0], priv);
	}
	/* Setting the tags of one half changes the key: both halves, in one transaction. */
	ck_assert_rv(f->C_SetAttributeValue(s, priv, &set, 1), CKR_OK);
	get.ulValueLen = sizeof(buf);
	ck_assert_rv(f->C_GetAttributeValue(s, pub, &get, 1), CKR_OK);
	ck_assert_uint_eq(get.ulValueLen, sizeof(other) - 1);
	ck_assert_uint_eq(find_tag(s, "web", 3), 0);
	ck_assert_uint_eq(find_tag(s, "dev", 3), 2);
	/* The other key kept its (empty) tags. */
	get.ulValueLen = sizeof(buf);
	ck_assert_rv(f->C_GetAttributeValue(s, pub2, &get, 1), CKR_OK);
	ck_assert_uint_eq(get.ulValueLen, 0);
	/* The next process sees the same through the store's index. */
	ck_assert_rv(f->C_Finalize(NULL), CKR_OK);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	s = user_session();
	ck_assert_uint_eq(find_tag(s, "dev", 3), 2);
	ck_assert_uint_eq(find_tag(s, "dev\0", 4), 2);
	teardown_store();
}
END_TEST

START_TEST(test_read_only_and_invalid)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE pub, priv;
	CK_ULONG state = KMS11_STATE_DISABLED, version = 7;
	CK_ATTRIBUTE ro[] = {{CKA_KMS11_STATE, &state, sizeof(state)},
			     {CKA_KMS11_VERSION, &version, sizeof(version)},
			     {CKA_KMS11_KEY_ID, "ab", 2},
			     {CKA_KMS11_EXPIRATION_DATE, "2030-01-01T00:00:00Z", 20},
			     {CKA_KMS11_DELETION_DATE, "2030-01-01T00:00:00Z", 20},
			     {CKA_KMS11_CREATED, "2030-01-01T00:00:00Z", 20},
			     {CKA_KMS11_ENGINE, "x", 1}};
	CK_ATTRIBUTE bad[] = {{CKA_KMS11_TAGS, "a\0a\0", 4},	 /* an element twice */
			      {CKA_KMS11_TAGS, "a", 1},		 /* no NUL after the last element */
			      {CKA_KMS11_TAGS, "a\0\0", 3},	 /* an empty element */
			      {CKA_KMS11_METADATA, "[1]", 3},	 /* not an object */
			      {CKA_KMS11_METADATA, "{\"a\":", 5}, /* not JSON */
			      {CKA_KMS11_ALIASES, "x", 1}};

	setup_token();
	s = user_session();
	ck_assert_rv(pair(s, "k", NULL, 0, &pub, &priv), CKR_OK);
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
		CK_OBJECT_HANDLE a, b;

		ck_assert_rv(f->C_SetAttributeValue(s, priv, &ro[i], 1), CKR_ATTRIBUTE_READ_ONLY);
		ck_assert_rv(pair(s, "ro", &ro[i], 1, &a, &b), CKR_ATTRIBUTE_READ_ONLY);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CK_OBJECT_HANDLE a, b;

		ck_assert_rv(f->C_SetAttributeValue(s, priv, &bad[i], 1), CKR_ATTRIBUTE_VALUE_INVALID);
		ck_assert_rv(pair(s, "bad", &bad[i], 1, &a, &b), CKR_ATTRIBUTE_VALUE_INVALID);
	}
	/* Nothing was half-made. */
	{
		CK_ATTRIBUTE t = {CKA_LABEL, "ro", 2}, u = {CKA_LABEL, "bad", 3};

		ck_assert_uint_eq(find_n(s, &t, 1, NULL, 0), 0);
		ck_assert_uint_eq(find_n(s, &u, 1, NULL, 0), 0);
	}
	teardown_store();
}
END_TEST

START_TEST(test_aliases_unique)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE pub, priv, pub2, priv2, h[4];
	const char al[] = "web-key\0tls\0";
	CK_ATTRIBUTE extra = {CKA_KMS11_ALIASES, (void *)al, sizeof(al) - 1};
	CK_ATTRIBUTE clash = {CKA_KMS11_ALIASES, "tls\0", 4}, fine = {CKA_KMS11_ALIASES, "mail\0", 5};
	CK_ATTRIBUTE find = {CKA_KMS11_ALIASES, "tls", 3};

	setup_token();
	s = user_session();
	ck_assert_rv(pair(s, "a", &extra, 1, &pub, &priv), CKR_OK);
	/* Both halves of one key carry the alias: that is no clash. */
	ck_assert_uint_eq(find_n(s, &find, 1, h, 4), 2);
	/* Another key may not take it, neither when made nor later. */
	ck_assert_rv(pair(s, "b", &clash, 1, &pub2, &priv2), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_rv(pair(s, "b", &fine, 1, &pub2, &priv2), CKR_OK);
	ck_assert_rv(f->C_SetAttributeValue(s, pub2, &clash, 1), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_uint_eq(find_n(s, &find, 1, h, 4), 2);
	ck_assert(h[0] == pub || h[0] == priv);
	/* Once the first key lets it go, the second may take it. */
	ck_assert_rv(f->C_SetAttributeValue(s, priv, &fine, 0), CKR_OK);
	{
		CK_ATTRIBUTE none = {CKA_KMS11_ALIASES, NULL, 0};

		ck_assert_rv(f->C_SetAttributeValue(s, priv, &none, 1), CKR_OK);
	}
	ck_assert_rv(f->C_SetAttributeValue(s, pub2, &clash, 1), CKR_OK);
	ck_assert_uint_eq(find_n(s, &find, 1, h, 4), 2);
	ck_assert(h[0] == pub2 || h[0] == priv2);
	teardown_store();
}
END_TEST

/* A store of schema 1 (made before the key id, alias and tag indexes) gets them filled when first opened:
 * a lookup by key id, which only that index answers, finds the stored key. */
START_TEST(test_schema1_store_reindexed)
{
	const char *dir = getenv("KMS11_TESTDATA");
	CK_ATTRIBUTE lt = {CKA_LABEL, "v2-public-aes", 13};
	char cmd[1200], kid[80];
	CK_ATTRIBUTE kt = {CKA_KMS11_KEY_ID, kid, sizeof(kid)};
	CK_OBJECT_HANDLE h[4], byid[4];
	CK_SESSION_HANDLE s;

	ck_assert_msg(dir != NULL, "KMS11_TESTDATA is not set");
	setup_store();
	snprintf(cmd, sizeof(cmd), "cp '%s/public-v2.mdb' '%s/data.mdb' && chmod 600 '%s/data.mdb'", dir, store, store);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_rv(f->C_Initialize(NULL), CKR_OK);
	ck_assert_rv(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	ck_assert_uint_eq(find_n(s, &lt, 1, h, 4), 1);
	ck_assert_rv(f->C_GetAttributeValue(s, h[0], &kt, 1), CKR_OK);
	ck_assert_uint_gt(kt.ulValueLen, 0);
	ck_assert_uint_eq(find_n(s, &kt, 1, byid, 4), 1);
	ck_assert_uint_eq(byid[0], h[0]);
	teardown_store();
}
END_TEST

int main(void)
{
	Suite *su = suite_create("facts");
	TCase *tc = tcase_create("facts");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_tags_find_and_share);
	tcase_add_test(tc, test_read_only_and_invalid);
	tcase_add_test(tc, test_aliases_unique);
	tcase_add_test(tc, test_schema1_store_reindexed);
	suite_add_tcase(su, tc);
	return kms_test_run(su);
}
