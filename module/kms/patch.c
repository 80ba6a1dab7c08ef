/* SPDX-License-Identifier: Apache-2.0 */
/* JSON Patch (RFC 6902) over JSON Pointers (RFC 6901): all six operations, applied to a copy so that a failing
 * operation or test changes nothing. */
#include <stdlib.h>
#include <string.h>

#include "module/kms/kms-int.h"

/* One reference token of a pointer, unescaped (~1 is '/', ~0 is '~'); malloc'd. */
static char *ptr_token(const char *s, size_t len)
{
	char *t = malloc(len + 1), *o = t;

	if (!t)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '~') {
			if (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1')) {
				free(t);
				return NULL;
			}
			*o++ = s[i + 1] == '0' ? '~' : '/';
			i++;
		} else {
			*o++ = s[i];
		}
	}
	*o = 0;
	return t;
}

/* An array index token: digits without a leading zero. */
static bool index_of(const char *t, size_t *out)
{
	size_t v = 0;

	if (!*t || (t[0] == '0' && t[1]) || strspn(t, "0123456789") != strlen(t) || strlen(t) > 9)
		return false;
	for (const char *p = t; *p; p++)
		v = v * 10 + (size_t)(*p - '0');
	*out = v;
	return true;
}

/* Resolves pointer ptr in doc to its parent container and last token: *parent NULL and *last NULL for the
 * whole document (""). KMS_E_INPUT for a malformed pointer or a missing parent. */
static int resolve(json_t *doc, const char *field, const char *ptr, json_t **parent, char **last, struct kms_err *e)
{
	json_t *cur = doc;
	const char *p = ptr;

	*parent = NULL;
	*last = NULL;
	if (*ptr == 0)
		return KMS_OK;
	if (*ptr != '/')
		return kms_fail(e, KMS_E_INPUT, "%s: path '%s' does not start with '/'", field, ptr);
	for (;;) {
		const char *next = strchr(p + 1, '/');
		size_t len = next ? (size_t)(next - p - 1) : strlen(p + 1);
		char *tok = ptr_token(p + 1, len);
		size_t idx;

		if (!tok)
			return kms_fail(e, KMS_E_INPUT, "%s: path '%s' has a bad '~' escape", field, ptr);
		if (!next) {
			*parent = cur;
			*last = tok;
			return KMS_OK;
		}
		if (json_is_object(cur))
			cur = json_object_get(cur, tok);
		else if (json_is_array(cur) && index_of(tok, &idx))
			cur = json_array_get(cur, idx);
		else
			cur = NULL;
		free(tok);
		if (!cur)
			return kms_fail(e, KMS_E_INPUT, "%s: path '%s' does not exist", field, ptr);
		p = next;
	}
}

/* The value at ptr (borrowed), or NULL. */
static json_t *get_at(json_t *doc, const char *ptr)
{
	json_t *parent, *v = NULL;
	char *last;
	size_t idx;

	if (resolve(doc, "", ptr, &parent, &last, NULL) != KMS_OK)
		return NULL;
	if (!last)
		return doc;
	if (json_is_object(parent))
		v = json_object_get(parent, last);
	else if (json_is_array(parent) && index_of(last, &idx))
		v = json_array_get(parent, idx);
	free(last);
	return v;
}

/* Adds value (a reference is taken) at ptr; *doc replaced when ptr is "". */
static int add_at(json_t **doc, const char *field, const char *ptr, json_t *value, struct kms_err *e)
{
	json_t *parent;
	char *last;
	size_t idx;
	int ret = resolve(*doc, field, ptr, &parent, &last, e);

	if (ret != KMS_OK)
		return ret;
	if (!last) {
		json_decref(*doc);
		*doc = json_incref(value);
		return KMS_OK;
	}
	if (json_is_object(parent))
		ret = json_object_set(parent, last, value) ? kms_fail(e, KMS_E_INTERNAL, "out of memory") : KMS_OK;
	else if (json_is_array(parent) && !strcmp(last, "-"))
		ret = json_array_append(parent, value) ? kms_fail(e, KMS_E_INTERNAL, "out of memory") : KMS_OK;
	else if (json_is_array(parent) && index_of(last, &idx) && idx <= json_array_size(parent))
		ret = json_array_insert(parent, idx, value) ? kms_fail(e, KMS_E_INTERNAL, "out of memory") : KMS_OK;
	else
		ret = kms_fail(e, KMS_E_INPUT, "%s: path '%s' does not exist", field, ptr);
	free(last);
	return ret;
}

/* Removes the value at ptr; *old (may be NULL) gets it (a reference). */
static int remove_at(json_t *doc, const char *field, const char *ptr, json_t **old, struct kms_err *e)
{
	json_t *parent, *v = NULL;
	char *last;
	size_t idx;
	int ret = resolve(doc, field, ptr, &parent, &last, e);

	if (ret != KMS_OK)
		return ret;
	if (!last)
		return kms_fail(e, KMS_E_INPUT, "%s: the whole document cannot be removed", field);
	if (json_is_object(parent) && (v = json_object_get(parent, last)) != NULL) {
		json_incref(v);
		json_object_del(parent, last);
	} else if (json_is_array(parent) && index_of(last, &idx) && idx < json_array_size(parent)) {
		v = json_incref(json_array_get(parent, idx));
		json_array_remove(parent, idx);
	} else {
		ret = kms_fail(e, KMS_E_INPUT, "%s: path '%s' does not exist", field, ptr);
	}
	free(last);
	if (old)
		*old = v;
	else
		json_decref(v);
	return ret;
}

static const char *member(const json_t *op, const char *name)
{
	return json_string_value(json_object_get(op, name));
}

/* Applies one operation to *doc. */
static int apply_one(json_t **doc, const char *field, size_t n, const json_t *op, struct kms_err *e)
{
	const char *name = member(op, "op"), *path = member(op, "path"), *from = member(op, "from");
	json_t *value = json_object_get(op, "value"), *v;
	int ret;

	if (!json_is_object(op) || !name)
		return kms_fail(e, KMS_E_INPUT, "%s: operation %zu has no \"op\"", field, n);
	if (!path)
		return kms_fail(e, KMS_E_INPUT, "%s: operation %zu (%s) has no \"path\"", field, n, name);
	if (!strcmp(name, "add") || !strcmp(name, "replace") || !strcmp(name, "test")) {
		if (!value)
			return kms_fail(e, KMS_E_INPUT, "%s: operation %zu (%s) has no \"value\"", field, n, name);
		if (!strcmp(name, "add"))
			return add_at(doc, field, path, value, e);
		if (!strcmp(name, "test")) {
			v = get_at(*doc, path);
			if (!v || !json_equal(v, value))
				return kms_fail(e, KMS_E_CONFLICT, "%s: test of operation %zu failed at '%s'", field, n, path);
			return KMS_OK;
		}
		if (!get_at(*doc, path))
			return kms_fail(e, KMS_E_INPUT, "%s: path '%s' does not exist", field, path);
		if (*path && (ret = remove_at(*doc, field, path, NULL, e)) != KMS_OK)
			return ret;
		return add_at(doc, field, path, value, e);
	}
	if (!strcmp(name, "remove"))
		return remove_at(*doc, field, path, NULL, e);
	if (!strcmp(name, "move") || !strcmp(name, "copy")) {
		size_t fl;

		if (!from)
			return kms_fail(e, KMS_E_INPUT, "%s: operation %zu (%s) has no \"from\"", field, n, name);
		fl = strlen(from);
		if (!strcmp(name, "move") && !strncmp(path, from, fl) && path[fl] == '/')
			return kms_fail(e, KMS_E_INPUT, "%s: cannot move '%s' into its own child '%s'", field, from, path);
		if (!strcmp(name, "copy")) {
			v = get_at(*doc, from);
			if (!v)
				return kms_fail(e, KMS_E_INPUT, "%s: path '%s' does not exist", field, from);
			v = json_deep_copy(v);
		} else if (!strcmp(from, path)) {
			return get_at(*doc, from) ? KMS_OK : kms_fail(e, KMS_E_INPUT, "%s: path '%s' does not exist", field, from);
		} else if ((ret = remove_at(*doc, field, from, &v, e)) != KMS_OK) {
			return ret;
		}
		ret = add_at(doc, field, path, v, e);
		json_decref(v);
		return ret;
	}
	return kms_fail(e, KMS_E_INPUT, "%s: operation %zu: unknown op '%s'", field, n, name);
}

int kms_json_patch(const json_t *doc, const char *patch_text, const char *field, json_t **out, struct kms_err *e)
{
	json_error_t je;
	json_t *patch = json_loads(patch_text, JSON_REJECT_DUPLICATES, &je), *cur, *op;
	size_t i;
	int ret = KMS_OK;

	*out = NULL;
	if (!patch)
		return kms_fail(e, KMS_E_INPUT, "%s: the patch is not JSON: %s", field, je.text);
	if (!json_is_array(patch)) {
		json_decref(patch);
		return kms_fail(e, KMS_E_INPUT, "%s: a JSON Patch is an array of operations", field);
	}
	cur = json_deep_copy(doc);
	json_array_foreach(patch, i, op)
	{
		ret = apply_one(&cur, field, i, op, e);
		if (ret != KMS_OK)
			break;
	}
	json_decref(patch);
	if (ret != KMS_OK) {
		json_decref(cur);
		return ret;
	}
	*out = cur;
	return KMS_OK;
}

int kms_json_patch_check(const char *patch_text, const char *field, struct kms_err *e)
{
	static const char *const ops[] = {"add", "remove", "replace", "move", "copy", "test"};
	json_error_t je;
	json_t *patch = patch_text ? json_loads(patch_text, JSON_REJECT_DUPLICATES, &je) : NULL, *op;
	size_t i;
	int ret = KMS_OK;

	if (!patch)
		return kms_fail(e, KMS_E_INPUT, "%s: the patch is not JSON: %s", field, patch_text ? je.text : "none given");
	if (!json_is_array(patch))
		ret = kms_fail(e, KMS_E_INPUT, "%s: a JSON Patch is an array of operations", field);
	json_array_foreach(patch, i, op)
	{
		const char *name = member(op, "op");
		size_t k;

		if (ret != KMS_OK)
			break;
		for (k = 0; name && k < sizeof(ops) / sizeof(ops[0]) && strcmp(name, ops[k]); k++)
			;
		if (!json_is_object(op) || !name || k == sizeof(ops) / sizeof(ops[0]))
			ret = kms_fail(e, KMS_E_INPUT, "%s: operation %zu: \"op\" must be one of add, remove, replace, move, "
				       "copy, test", field, i);
		else if (!member(op, "path"))
			ret = kms_fail(e, KMS_E_INPUT, "%s: operation %zu (%s) has no \"path\"", field, i, name);
		else if ((k == 0 || k == 2 || k == 5) && !json_object_get(op, "value"))
			ret = kms_fail(e, KMS_E_INPUT, "%s: operation %zu (%s) has no \"value\"", field, i, name);
		else if ((k == 3 || k == 4) && !member(op, "from"))
			ret = kms_fail(e, KMS_E_INPUT, "%s: operation %zu (%s) has no \"from\"", field, i, name);
	}
	json_decref(patch);
	return ret;
}
