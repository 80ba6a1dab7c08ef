/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for pkcs11: URI parsing, formatting and token matching (module/core/uri.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/testutil.h"
#include "module/core/uri.h"


START_TEST(test_parse_simple)
{
	struct kms_uri u;
	const char *err = NULL;

	ck_assert_rv(kms_uri_parse("pkcs11:object=my-pubkey;type=public", &u, &err), CKR_OK);
	ck_assert_str_eq(u.object, "my-pubkey");
	ck_assert(u.has_type);
	ck_assert_uint_eq(u.type, CKO_PUBLIC_KEY);
	ck_assert_ptr_null(u.token);
	ck_assert(!u.has_id);
	ck_assert(!u.has_slot_id);
	ck_assert(!u.has_library_version);
	ck_assert_ptr_null(u.pin_value);
	kms_uri_clear(&u);
	ck_assert_ptr_null(u.object);

	ck_assert_rv(kms_uri_parse("pkcs11:", &u, &err), CKR_OK);
	ck_assert_ptr_null(u.object);
	ck_assert(!u.has_type);
	kms_uri_clear(&u);
}
END_TEST

START_TEST(test_parse_rfc_example)
{
	struct kms_uri u;
	const char *err = NULL;
	static const uint8_t id[] = { 0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91 };

	ck_assert_rv(kms_uri_parse("pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;"
				   "manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;"
				   "type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial="
				   "?pin-source=file:/etc/token_pin",
				   &u, &err),
		     CKR_OK);
	ck_assert_str_eq(u.token, "The Software PKCS#11 Softtoken");
	ck_assert_str_eq(u.manufacturer, "Snake Oil, Inc.");
	ck_assert_str_eq(u.model, "1.0");
	ck_assert_ptr_nonnull(u.serial);
	ck_assert_str_eq(u.serial, "");
	ck_assert_str_eq(u.object, "my-certificate");
	ck_assert(u.has_type);
	ck_assert_uint_eq(u.type, CKO_CERTIFICATE);
	ck_assert(u.has_id);
	ck_assert_uint_eq(u.id_len, sizeof(id));
	ck_assert_mem_eq(u.id, id, sizeof(id));
	ck_assert_str_eq(u.pin_source, "file:/etc/token_pin");
	kms_uri_clear(&u);

	/* RFC 7512 section 7 examples that must parse */
	static const char *const ok[] = {
		"pkcs11:",
		"pkcs11:object=my-pubkey;type=public",
		"pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
		"pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin",
		"pkcs11:slot-description=Sun%20Metaslot",
		"pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;"
		"library-version=1.23",
		"pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
		"pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert",
		"pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin"
		"&vendor-bbb=value-b",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CK_RV rv = kms_uri_parse(ok[i], &u, &err);
		/* vendor-aaa is not an x- vendor attribute: RFC 7512 leaves it to the
		 * implementation, and we refuse unknown path attributes. */
		if (strstr(ok[i], "vendor-aaa") != NULL) {
			ck_assert_rv(rv, CKR_ARGUMENTS_BAD);
			continue;
		}
		ck_assert_msg(rv == CKR_OK, "%s: %s (%s)", ok[i], kms_ckr_name(rv), err ? err : "");
		kms_uri_clear(&u);
	}
	ck_assert_rv(kms_uri_parse(ok[7], &u, &err), CKR_OK);
	ck_assert_str_eq(u.token, "Name with a small A with acute: \xc3\xa1");
	kms_uri_clear(&u);
	ck_assert_rv(kms_uri_parse(ok[6], &u, &err), CKR_OK);
	ck_assert_str_eq(u.token, "A name with a substring %;");
	kms_uri_clear(&u);
	ck_assert_rv(kms_uri_parse(ok[5], &u, &err), CKR_OK);
	ck_assert_str_eq(u.library_manufacturer, "Snake Oil, Inc.");
	ck_assert_str_eq(u.library_description, "Soft Token Library");
	ck_assert(u.has_library_version);
	ck_assert_uint_eq(u.library_version.major, 1);
	ck_assert_uint_eq(u.library_version.minor, 23);
	kms_uri_clear(&u);
	ck_assert_rv(kms_uri_parse(ok[4], &u, &err), CKR_OK);
	ck_assert_str_eq(u.slot_description, "Sun Metaslot");
	kms_uri_clear(&u);
}
END_TEST

START_TEST(test_parse_slot_and_query)
{
	struct kms_uri u;
	const char *err = NULL;

	ck_assert_rv(kms_uri_parse("pkcs11:slot-id=2;object=x", &u, &err), CKR_OK);
	ck_assert(u.has_slot_id);
	ck_assert_uint_eq(u.slot_id, 2);
	ck_assert_str_eq(u.object, "x");
	kms_uri_clear(&u);

	ck_assert_rv(kms_uri_parse("pkcs11:object=k;type=private?pin-value=12%2634&module-path=/usr/lib/x.so"
				   "&module-name=softhsm2&x-vendor=q",
				   &u, &err),
		     CKR_OK);
	ck_assert_str_eq(u.pin_value, "12&34");
	ck_assert_str_eq(u.module_path, "/usr/lib/x.so");
	ck_assert_str_eq(u.module_name, "softhsm2");
	ck_assert_uint_eq(u.type, CKO_PRIVATE_KEY);
	kms_uri_clear(&u);
	ck_assert_ptr_null(u.pin_value);

	ck_assert_rv(kms_uri_parse("pkcs11:type=secret-key;id=", &u, &err), CKR_OK);
	ck_assert_uint_eq(u.type, CKO_SECRET_KEY);
	ck_assert(u.has_id);
	ck_assert_uint_eq(u.id_len, 0);
	kms_uri_clear(&u);
	ck_assert_rv(kms_uri_parse("pkcs11:type=data", &u, &err), CKR_OK);
	ck_assert_uint_eq(u.type, CKO_DATA);
	kms_uri_clear(&u);

	/* vendor path attributes are ignored */
	ck_assert_rv(kms_uri_parse("pkcs11:x-kms=1;object=a", &u, &err), CKR_OK);
	ck_assert_str_eq(u.object, "a");
	kms_uri_clear(&u);
}
END_TEST

START_TEST(test_parse_rejects)
{
	static const struct {
		const char *uri;
		const char *msg; /* substring of the error message */
	} bad[] = {
		{ "object=a", "pkcs11:" },
		{ "pk11:object=a", "pkcs11:" },
		{ "http://example.com/", "pkcs11:" },
		{ "pkcs11:object=%zz", "percent" },
		{ "pkcs11:object=%4", "percent" },
		{ "pkcs11:object=abc%", "percent" },
		{ "pkcs11:foo=bar", "unknown path attribute" },
		{ "pkcs11:object=a;tokne=b", "unknown path attribute" },
		{ "pkcs11:x-ok=1;bogus=2", "unknown path attribute" },
		{ "pkcs11:type=foo", "unsupported value" },
		{ "pkcs11:x-ok=1;type=foo", "unsupported value" },
		{ "pkcs11:slot-id=abc", "syntax" },
		{ "pkcs11:object", "syntax" },
		{ "pkcs11:library-version=1.x", "library-version" },
		{ "pkcs11:object=a%00b", "NUL" },
	};
	struct kms_uri u;
	const char *err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		CK_RV rv = kms_uri_parse(bad[i].uri, &u, &err);
		ck_assert_msg(rv == CKR_ARGUMENTS_BAD, "%s: got %s", bad[i].uri, kms_ckr_name(rv));
		ck_assert_ptr_nonnull(err);
		ck_assert_msg(strstr(err, bad[i].msg) != NULL, "%s: message '%s' lacks '%s'", bad[i].uri, err,
			      bad[i].msg);
		ck_assert_ptr_null(u.object);
	}
	ck_assert_rv(kms_uri_parse(NULL, &u, &err), CKR_ARGUMENTS_BAD);
	ck_assert_rv(kms_uri_parse("pkcs11:object=a", &u, NULL), CKR_OK);
	kms_uri_clear(&u);
}
END_TEST

START_TEST(test_format_key)
{
	static const uint8_t id[] = { 0x01, 0x02, 0x41, 0xff };
	char *s;

	s = kms_uri_format_key("kms11", "my key", id, sizeof(id), CKO_PRIVATE_KEY);
	ck_assert_str_eq(s, "pkcs11:token=kms11;object=my%20key;id=%01%02%41%FF;type=private");
	free(s);
	s = kms_uri_format_key("kms11   ", NULL, NULL, 0, CKO_SECRET_KEY);
	ck_assert_str_eq(s, "pkcs11:token=kms11;type=secret-key");
	free(s);
	s = kms_uri_format_key("t", "a;b/c?d&e%f=g", NULL, 0, CKO_CERTIFICATE);
	ck_assert_str_eq(s, "pkcs11:token=t;object=a%3Bb%2Fc%3Fd%26e%25f=g;type=cert");
	free(s);
	s = kms_uri_format_key("t", "x", NULL, 0, CKO_PUBLIC_KEY);
	ck_assert_str_eq(s, "pkcs11:token=t;object=x;type=public");
	free(s);
	s = kms_uri_format_key("t", "x", NULL, 0, CKO_DATA);
	ck_assert_str_eq(s, "pkcs11:token=t;object=x;type=data");
	free(s);
}
END_TEST

START_TEST(test_format_roundtrip)
{
	static const char *const labels[] = {
		"plain", "with space", "semi;colon", "sl/ash", "ques?tion", "amp&ersand", "per%cent", "eq=ual",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", "#hash", "tab\there", "\"quoted\" 'single'", "a,b:c@d",
		"", "trailing space ",
	};
	uint8_t id[32];

	for (size_t i = 0; i < sizeof(id); i++)
		id[i] = (uint8_t)(i * 37 + 250);
	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		struct kms_uri u;
		const char *err = NULL;
		char *s = kms_uri_format_key("tok en;/?", labels[i], id, sizeof(id), CKO_PRIVATE_KEY);
		ck_assert_ptr_nonnull(s);
		ck_assert_msg(strncmp(s, "pkcs11:token=tok%20en%3B%2F%3F;object=", 38) == 0, "%s", s);
		/* nothing outside the RFC 7512 path character set is left raw */
		for (const char *c = s + 7; *c; c++)
			ck_assert_msg(strchr(" ?&/#\"\t", *c) == NULL && (unsigned char)*c < 0x80, "raw char in %s", s);
		ck_assert_rv(kms_uri_parse(s, &u, &err), CKR_OK);
		ck_assert_str_eq(u.token, "tok en;/?");
		ck_assert_str_eq(u.object, labels[i]);
		ck_assert_uint_eq(u.id_len, sizeof(id));
		ck_assert_mem_eq(u.id, id, sizeof(id));
		ck_assert_uint_eq(u.type, CKO_PRIVATE_KEY);

		/* the general formatter gives the same canonical text back */
		char *s2 = kms_uri_format(&u);
		ck_assert_str_eq(s2, s);
		free(s2);
		kms_uri_clear(&u);
		free(s);
	}
}
END_TEST

START_TEST(test_format_all)
{
	struct kms_uri u, v;
	const char *err = NULL;
	char *s;

	ck_assert_rv(kms_uri_parse("pkcs11:library-description=Soft%20Lib;library-manufacturer=ACME;"
				   "library-version=2.5;slot-description=S%20D;slot-manufacturer=SM;slot-id=7;"
				   "token=T;manufacturer=M;model=Mo;serial=0042;object=O%2FP;id=%AB;type=public"
				   "?pin-source=file:/p&pin-value=a%20b&module-name=mn&module-path=/lib/x.so",
				   &u, &err),
		     CKR_OK);
	s = kms_uri_format(&u);
	ck_assert_str_eq(s, "pkcs11:library-description=Soft%20Lib;library-manufacturer=ACME;library-version=2.5;"
			    "slot-description=S%20D;slot-manufacturer=SM;slot-id=7;token=T;manufacturer=M;"
			    "model=Mo;serial=0042;object=O%2FP;id=%AB;type=public"
			    "?pin-source=file:/p&pin-value=a%20b&module-name=mn&module-path=/lib/x.so");
	ck_assert_rv(kms_uri_parse(s, &v, &err), CKR_OK);
	ck_assert_str_eq(v.pin_value, "a b");
	ck_assert_uint_eq(v.slot_id, 7);
	ck_assert_str_eq(v.serial, "0042");
	ck_assert_str_eq(v.slot_manufacturer, "SM");
	kms_uri_clear(&v);
	kms_uri_clear(&u);
	free(s);
}
END_TEST

static void fill(CK_UTF8CHAR *f, size_t n, const char *v)
{
	memset(f, ' ', n);
	memcpy(f, v, strlen(v));
}

START_TEST(test_match_token)
{
	CK_TOKEN_INFO ti;
	struct kms_uri u;
	const char *err = NULL;

	memset(&ti, 0, sizeof(ti));
	fill(ti.label, sizeof(ti.label), "kms11");
	fill(ti.manufacturerID, sizeof(ti.manufacturerID), "kms11 project");
	fill(ti.model, sizeof(ti.model), "openssl");
	fill(ti.serialNumber, sizeof(ti.serialNumber), "0123456789abcdef");

	static const struct {
		const char *uri;
		bool match;
	} cases[] = {
		{ "pkcs11:", true },
		{ "pkcs11:object=x", true },
		{ "pkcs11:token=kms11", true },
		{ "pkcs11:token=kms1", false },
		{ "pkcs11:token=kms11x", false },
		{ "pkcs11:token=KMS11", false },
		{ "pkcs11:token=kms11;manufacturer=kms11%20project;model=openssl;serial=0123456789abcdef", true },
		{ "pkcs11:token=kms11;manufacturer=kms11", false },
		{ "pkcs11:model=openssl;serial=0123456789abcdeF", false },
		{ "pkcs11:serial=", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_rv(kms_uri_parse(cases[i].uri, &u, &err), CKR_OK);
		ck_assert_msg(kms_uri_match_token(&u, &ti) == cases[i].match, "%s", cases[i].uri);
		kms_uri_clear(&u);
	}
	/* a label that fills all 32 bytes */
	fill(ti.label, sizeof(ti.label), "0123456789abcdef0123456789abcdef");
	ck_assert_rv(kms_uri_parse("pkcs11:token=0123456789abcdef0123456789abcdef", &u, &err), CKR_OK);
	ck_assert(kms_uri_match_token(&u, &ti));
	kms_uri_clear(&u);
	/* longer than the field: valid RFC 7512, kept whole, matches no token */
	ck_assert_rv(kms_uri_parse("pkcs11:x-v=1;token=0123456789abcdef0123456789abcdef%20X;serial=s", &u, &err),
		     CKR_OK);
	ck_assert_str_eq(u.token, "0123456789abcdef0123456789abcdef X");
	ck_assert_str_eq(u.serial, "s");
	ck_assert(!kms_uri_match_token(&u, &ti));
	kms_uri_clear(&u);
}
END_TEST

static Suite *uri_suite(void)
{
	Suite *s = suite_create("uri");
	TCase *tc = tcase_create("uri");

	tcase_add_test(tc, test_parse_simple);
	tcase_add_test(tc, test_parse_rfc_example);
	tcase_add_test(tc, test_parse_slot_and_query);
	tcase_add_test(tc, test_parse_rejects);
	tcase_add_test(tc, test_format_key);
	tcase_add_test(tc, test_format_roundtrip);
	tcase_add_test(tc, test_format_all);
	tcase_add_test(tc, test_match_token);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kms_test_run(uri_suite());
}
