/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON Patch engine of the management plane against the examples of RFC 6902 appendix A, and its refusals:
 * a failing operation or test leaves the document as it was. */
#include <check.h>
#include <string.h>

#include "module/kms/kms.h"
#include "tests/unit/testutil.h"

struct pcase {
	const char *name, *doc, *patch, *want; /* want NULL: the patch fails */
	enum kms_status code;                  /* ... with this code */
};

static const struct pcase cases[] = {
	{"A.1 add an object member", "{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
	 "{\"baz\":\"qux\",\"foo\":\"bar\"}", KMS_OK},
	{"A.2 add an array element", "{\"foo\":[\"bar\",\"baz\"]}", "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
	 "{\"foo\":[\"bar\",\"qux\",\"baz\"]}", KMS_OK},
	{"A.3 remove an object member", "{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]",
	 "{\"foo\":\"bar\"}", KMS_OK},
	{"A.4 remove an array element", "{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
	 "{\"foo\":[\"bar\",\"baz\"]}", KMS_OK},
	{"A.5 replace a value", "{\"baz\":\"qux\",\"foo\":\"bar\"}",
	 "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]", "{\"baz\":\"boo\",\"foo\":\"bar\"}", KMS_OK},
	{"A.6 move a value", "{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
	 "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
	 "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}", KMS_OK},
	{"A.7 move an array element", "{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
	 "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]", "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}",
	 KMS_OK},
	{"A.8 test success", "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
	 "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
	 "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}", KMS_OK},
	{"A.9 test error", "{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]", NULL,
	 KMS_E_CONFLICT},
	{"A.10 add a nested member object", "{\"foo\":\"bar\"}",
	 "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
	 "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}", KMS_OK},
	{"A.11 ignore unrecognised members", "{\"foo\":\"bar\"}",
	 "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"xyz\":123}]", "{\"foo\":\"bar\",\"baz\":\"qux\"}", KMS_OK},
	{"A.12 add to a nonexistent target", "{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]",
	 NULL, KMS_E_INPUT},
	{"A.13 invalid patch (op twice)", "{\"foo\":\"bar\"}",
	 "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"op\":\"remove\"}]", NULL, KMS_E_INPUT},
	{"A.14 ~ escape ordering", "{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]",
	 "{\"/\":9,\"~1\":10}", KMS_OK},
	{"A.15 strings and numbers differ", "{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]",
	 NULL, KMS_E_CONFLICT},
	{"A.16 add an array value", "{\"foo\":[\"bar\"]}", "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
	 "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}", KMS_OK},
	/* More refusals, and atomicity: the first operation applies, the second fails, nothing changes. */
	{"remove of a missing member", "{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/b\"}]", NULL, KMS_E_INPUT},
	{"replace of a missing member", "{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":2}]", NULL,
	 KMS_E_INPUT},
	{"an index past the end", "[1,2]", "[{\"op\":\"add\",\"path\":\"/3\",\"value\":3}]", NULL, KMS_E_INPUT},
	{"a leading zero index", "[1,2]", "[{\"op\":\"remove\",\"path\":\"/01\"}]", NULL, KMS_E_INPUT},
	{"move into its own child", "{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/c\"}]", NULL,
	 KMS_E_INPUT},
	{"an unknown op", "{}", "[{\"op\":\"merge\",\"path\":\"/a\",\"value\":1}]", NULL, KMS_E_INPUT},
	{"not an array", "{}", "{\"op\":\"add\",\"path\":\"/a\",\"value\":1}", NULL, KMS_E_INPUT},
	{"a path without /", "{}", "[{\"op\":\"add\",\"path\":\"a\",\"value\":1}]", NULL, KMS_E_INPUT},
	{"copy", "{\"a\":{\"b\":[1]}}", "[{\"op\":\"copy\",\"from\":\"/a/b\",\"path\":\"/c\"}]", "{\"a\":{\"b\":[1]},\"c\":[1]}",
	 KMS_OK},
	{"replace the whole document", "{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[1]}]", "[1]", KMS_OK},
	{"atomic: a later failing test undoes nothing", "{\"a\":1}",
	 "[{\"op\":\"add\",\"path\":\"/b\",\"value\":2},{\"op\":\"test\",\"path\":\"/a\",\"value\":5}]", NULL,
	 KMS_E_CONFLICT},
};

START_TEST(test_case)
{
	const struct pcase *c = &cases[_i];
	json_t *doc = json_loads(c->doc, 0, NULL), *before, *out = (json_t *)1;
	struct kms_err e = {0};
	int ret;

	ck_assert_msg(doc != NULL, "%s: bad test document", c->name);
	before = json_deep_copy(doc);
	ret = kms_json_patch(doc, c->patch, "metadata", &out, &e);
	ck_assert_msg(ret == (int)c->code, "%s: got %d (%s), want %d", c->name, ret, e.msg, c->code);
	ck_assert_msg(json_equal(doc, before), "%s: the input document changed", c->name);
	if (c->want) {
		json_t *want = json_loads(c->want, 0, NULL);

		ck_assert_msg(json_equal(out, want), "%s: got %s", c->name, json_dumps(out, JSON_COMPACT));
		json_decref(want);
		json_decref(out);
		ck_assert_int_eq(kms_json_patch_check(c->patch, "metadata", &e), KMS_OK);
	} else {
		ck_assert_msg(out == NULL, "%s: a result after a failure", c->name);
		ck_assert_msg(strncmp(e.msg, "metadata: ", 10) == 0, "%s: the error names the field: %s", c->name, e.msg);
	}
	json_decref(doc);
	json_decref(before);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("patch");
	TCase *tc = tcase_create("patch");

	tcase_add_loop_test(tc, test_case, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	suite_add_tcase(su, tc);
	return kms_test_run(su);
}
