/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The predicate language of metadata[jsonpath] filters (FILTERS.md):
 *   expr    := and ('||' and)*
 *   and     := unary ('&&' unary)*
 *   unary   := '!' unary | primary
 *   primary := '(' expr ')' | 'exists(' path ')' | operand (cmpop operand)?
 *   operand := path | number | 'string' | "string" | true | false | null
 *   path    := '$' ('.' name | '[' index ']')*
 *   cmpop   := '==' | '!=' | '<' | '<=' | '>' | '>='
 * A bare path is true when it exists and is not false or null. Comparisons: numbers with numbers, strings with
 * strings (byte order), others by JSON equality for == and !=; a missing path compares false (!= true).
 * One pass both checks and evaluates; with no document it only checks.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "module/kms/kms-int.h"

struct jp {
	const char *p;
	json_t *doc; /* NULL: check only */
	const char *err;
};

static void ws(struct jp *j)
{
	while (isspace((unsigned char)*j->p))
		j->p++;
}

static bool eat(struct jp *j, const char *tok)
{
	size_t n = strlen(tok);

	ws(j);
	if (strncmp(j->p, tok, n) != 0)
		return false;
	j->p += n;
	return true;
}

/* Parses an operand into *v (a new reference, NULL for a missing path). */
static bool operand(struct jp *j, json_t **v)
{
	ws(j);
	*v = NULL;
	if (*j->p == '$') {
		json_t *cur = j->doc;

		j->p++;
		for (;;) {
			if (*j->p == '.') {
				const char *s = ++j->p;
				char name[256];

				while (isalnum((unsigned char)*j->p) || *j->p == '_' || *j->p == '-')
					j->p++;
				if (j->p == s || (size_t)(j->p - s) >= sizeof(name)) {
					j->err = "a path member name is missing or too long";
					return false;
				}
				memcpy(name, s, (size_t)(j->p - s));
				name[j->p - s] = 0;
				cur = json_is_object(cur) ? json_object_get(cur, name) : NULL;
			} else if (*j->p == '[') {
				char *end;
				unsigned long idx = strtoul(j->p + 1, &end, 10);

				if (end == j->p + 1 || *end != ']') {
					j->err = "a path index is not a number";
					return false;
				}
				j->p = end + 1;
				cur = json_is_array(cur) ? json_array_get(cur, idx) : NULL;
			} else {
				break;
			}
		}
		*v = j->doc && cur ? json_incref(cur) : NULL;
		return true;
	}
	if (*j->p == '\'' || *j->p == '"') {
		char q = *j->p++;
		const char *s = j->p;

		while (*j->p && *j->p != q)
			j->p++;
		if (!*j->p) {
			j->err = "a string is not closed";
			return false;
		}
		*v = json_stringn(s, (size_t)(j->p - s));
		j->p++;
		return true;
	}
	if (isdigit((unsigned char)*j->p) || *j->p == '-') {
		char *end;
		double d = strtod(j->p, &end);

		if (end == j->p) {
			j->err = "a bad number";
			return false;
		}
		j->p = end;
		*v = json_real(d);
		return true;
	}
	if (eat(j, "true"))
		*v = json_true();
	else if (eat(j, "false"))
		*v = json_false();
	else if (eat(j, "null"))
		*v = json_null();
	else {
		j->err = "expected a path ($.a.b), a number, a string, true, false or null";
		return false;
	}
	return true;
}

static double num(const json_t *v)
{
	return json_number_value(v);
}

static bool compare(const char *op, json_t *a, json_t *b)
{
	bool eq;

	if (!a || !b)
		return !strcmp(op, "!=");
	if (json_is_number(a) && json_is_number(b)) {
		double x = num(a), y = num(b);

		return !strcmp(op, "==") ? x == y : !strcmp(op, "!=") ? x != y : !strcmp(op, "<") ? x < y
		       : !strcmp(op, "<=") ? x <= y : !strcmp(op, ">") ? x > y : x >= y;
	}
	if (json_is_string(a) && json_is_string(b)) {
		int c = strcmp(json_string_value(a), json_string_value(b));

		return !strcmp(op, "==") ? c == 0 : !strcmp(op, "!=") ? c != 0 : !strcmp(op, "<") ? c < 0
		       : !strcmp(op, "<=") ? c <= 0 : !strcmp(op, ">") ? c > 0 : c >= 0;
	}
	eq = json_equal(a, b);
	return !strcmp(op, "==") ? eq : !strcmp(op, "!=") ? !eq : false;
}

static bool expr(struct jp *j, bool *val);

static bool primary(struct jp *j, bool *val)
{
	static const char *const ops[] = {"==", "!=", "<=", ">=", "<", ">"};
	json_t *a = NULL, *b = NULL;

	if (eat(j, "(")) {
		if (!expr(j, val))
			return false;
		if (!eat(j, ")")) {
			j->err = "')' is missing";
			return false;
		}
		return true;
	}
	if (eat(j, "exists(")) {
		ws(j);
		if (*j->p != '$') {
			j->err = "exists() takes a path";
			return false;
		}
		if (!operand(j, &a))
			return false;
		*val = a != NULL;
		json_decref(a);
		if (!eat(j, ")")) {
			j->err = "')' is missing after exists(";
			return false;
		}
		return true;
	}
	if (!operand(j, &a))
		return false;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (eat(j, ops[i])) {
			if (!operand(j, &b)) {
				json_decref(a);
				return false;
			}
			*val = compare(ops[i], a, b);
			json_decref(a);
			json_decref(b);
			return true;
		}
	}
	*val = a && !json_is_false(a) && !json_is_null(a);
	json_decref(a);
	return true;
}

static bool unary(struct jp *j, bool *val)
{
	ws(j);
	if (j->p[0] == '!' && j->p[1] != '=') {
		j->p++;
		if (!unary(j, val))
			return false;
		*val = !*val;
		return true;
	}
	return primary(j, val);
}

static bool and_expr(struct jp *j, bool *val)
{
	bool r;

	if (!unary(j, val))
		return false;
	while (eat(j, "&&")) {
		if (!unary(j, &r))
			return false;
		*val = *val && r;
	}
	return true;
}

static bool expr(struct jp *j, bool *val)
{
	bool r;

	if (!and_expr(j, val))
		return false;
	while (eat(j, "||")) {
		if (!and_expr(j, &r))
			return false;
		*val = *val || r;
	}
	return true;
}

static bool run(const char *text, json_t *doc, bool *val, const char **err)
{
	struct jp j = {.p = text, .doc = doc};

	if (!expr(&j, val))
		goto bad;
	ws(&j);
	if (*j.p) {
		j.err = "unexpected text after the expression";
		goto bad;
	}
	return true;
bad:
	*err = j.err ? j.err : "malformed";
	return false;
}

int kms_jsonpath_check(const char *text, struct kms_err *e)
{
	const char *err = NULL;
	bool v;

	if (!run(text, NULL, &v, &err))
		return kms_fail(e, KMS_E_INPUT, "invalid filter value '%s' for field 'metadata': %s", text, err);
	return KMS_OK;
}

bool kms_jsonpath_match(json_t *doc, const char *text)
{
	const char *err;
	bool v = false;

	return run(text, doc, &v, &err) && v;
}
