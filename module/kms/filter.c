/* SPDX-License-Identifier: Apache-2.0 */
/* The filter, sort and bookmark language of list calls (FILTERS.md) over keys: parsing, matching, keyset pages,
 * count and stats. Candidates come from the store's indexes when a filter allows (a tag, an alias, a key id, a
 * token), else from every key object of the tokens. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/osslctx.h"
#include "common/util.h"
#include "module/kms/kms-int.h"

enum ftype { T_STRING, T_LIST, T_NUMBER, T_DATE, T_ENUM, T_JSON };

static const struct field {
	const char *name;
	enum ftype type;
	bool sortable;
} fields[] = {
	{"key_id", T_STRING, true},    {"name", T_STRING, true},	{"description", T_STRING, false},
	{"aliases", T_LIST, false},    {"tags", T_LIST, false},		{"engine_id", T_ENUM, true},
	{"algorithm", T_ENUM, true},   {"size", T_NUMBER, true},	{"has_private_key", T_ENUM, false},
	{"creation_ts", T_DATE, true}, {"state", T_ENUM, true},		{"metadata", T_JSON, false},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

enum op {
	OP_EQ, OP_NE, OP_EQ_IC, OP_NE_IC, OP_CT, OP_NC, OP_CT_IC, OP_NC_IC, OP_IN, OP_NIN,
	OP_LT, OP_LE, OP_GT, OP_GE, OP_BF, OP_AF, OP_JSONPATH,
};

static const struct {
	const char *name;
	enum op op;
} op_names[] = {
	{"eq", OP_EQ},	       {"ne", OP_NE},		   {"eq_ic", OP_EQ_IC},
	{"ne_ic", OP_NE_IC},   {"ct", OP_CT},		   {"contains", OP_CT},
	{"nc", OP_NC},	       {"notcontains", OP_NC},	   {"ct_ic", OP_CT_IC},
	{"contains_ic", OP_CT_IC}, {"contains_ignorecase", OP_CT_IC}, {"nc_ic", OP_NC_IC},
	{"notcontains_ic", OP_NC_IC}, {"notcontains_ignorecase", OP_NC_IC}, {"in", OP_IN},
	{"nin", OP_NIN},       {"notin", OP_NIN},	   {"lt", OP_LT},
	{"le", OP_LE},	       {"gt", OP_GT},		   {"ge", OP_GE},
	{"bf", OP_BF},	       {"before", OP_BF},	   {"af", OP_AF},
	{"after", OP_AF},      {"jsonpath", OP_JSONPATH},
};

/* Which operators each type takes. */
static bool op_fits(enum ftype t, enum op op, bool meta_path)
{
	switch (t) {
	case T_STRING:
		return op <= OP_NIN;
	case T_LIST:
		return op == OP_CT || op == OP_CT_IC;
	case T_NUMBER:
		return op == OP_EQ || op == OP_NE || (op >= OP_LT && op <= OP_GE);
	case T_DATE:
		return op == OP_EQ || op == OP_BF || op == OP_AF;
	case T_ENUM:
		return op == OP_EQ || op == OP_NE || op == OP_IN;
	case T_JSON:
		return meta_path ? (op <= OP_NC_IC || (op >= OP_LT && op <= OP_GE)) : op == OP_JSONPATH;
	}
	return false;
}

/* One parsed expression. */
struct expr {
	const struct field *f;
	enum op op;
	char *path;  /* metadata.<path> (dotted), or NULL */
	char *value; /* the value text */
	time_t t0, t1; /* dates: [t0, t1) is the value's instant or day */
	double num;
};

struct kms_filter {
	struct expr *v;
	size_t n;
};

static void kms_filter_free(struct kms_filter *f)
{
	for (size_t i = 0; f && i < f->n; i++) {
		free(f->v[i].path);
		free(f->v[i].value);
	}
	if (f)
		free(f->v);
	free(f);
}

static const struct field *field_named(const char *s, size_t len)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (strlen(fields[i].name) == len && !strncmp(s, fields[i].name, len))
			return &fields[i];
	return NULL;
}

/* Where the field name at s ends: before '[' (or, for metadata.<path>, before its '['). */
static size_t name_len(const char *s)
{
	return strcspn(s, "[");
}

/* True when s starts a new expression: a known field (or metadata.<path>) followed by '['. */
static bool starts_expr(const char *s)
{
	size_t n = name_len(s);

	if (s[n] != '[')
		return false;
	if (n > 9 && !strncmp(s, "metadata.", 9))
		return true;
	return field_named(s, n) != NULL;
}

static int parse_expr(const char *s, size_t len, struct expr *x, struct kms_err *e)
{
	char *text = strndup(s, len), *lb, *rb, *val;
	size_t n;
	size_t i;
	int ret = KMS_OK;

	memset(x, 0, sizeof(*x));
	if (!text)
		return kms_fail(e, KMS_E_INTERNAL, "out of memory");
	lb = strchr(text, '[');
	rb = lb ? strchr(lb, ']') : NULL;
	if (!lb || !rb) {
		ret = kms_fail(e, KMS_E_INPUT, "invalid filter '%s': write field[op]value", text);
		goto out;
	}
	n = (size_t)(lb - text);
	if (n > 9 && !strncmp(text, "metadata.", 9)) {
		x->f = field_named("metadata", 8);
		x->path = strndup(text + 9, n - 9);
	} else {
		x->f = field_named(text, n);
	}
	if (!x->f) {
		ret = kms_fail(e, KMS_E_INPUT, "invalid filter field '%.*s'", (int)n, text);
		goto out;
	}
	*rb = 0;
	for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (!strcmp(lb + 1, op_names[i].name))
			break;
	if (i == sizeof(op_names) / sizeof(op_names[0]) || !op_fits(x->f->type, op_names[i].op, x->path != NULL)) {
		ret = kms_fail(e, KMS_E_INPUT, "invalid filter operand '%s' for field '%s'", lb + 1,
			       x->path ? "metadata.<path>" : x->f->name);
		goto out;
	}
	x->op = op_names[i].op;
	val = rb + 1;
	if (*val == '=' || *val == ':')
		val++;
	if (!strncmp(val, "%3D", 3) || !strncmp(val, "%3d", 3)) {
		val += 2;
		*val = '=';
	}
	x->value = strdup(val);
	if (!x->value) {
		ret = kms_fail(e, KMS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (x->f->type == T_NUMBER) {
		char *end;

		x->num = strtod(x->value, &end);
		if (!*x->value || *end)
			ret = kms_fail(e, KMS_E_INPUT, "invalid filter value '%s' for field '%s': a number", x->value,
				       x->f->name);
	} else if (x->f->type == T_DATE) {
		if (kms_time_parse(x->value, &x->t0) != 0)
			ret = kms_fail(e, KMS_E_INPUT, "invalid filter value '%s' for field '%s': an ISO 8601 date",
				       x->value, x->f->name);
		x->t1 = x->t0 + (strlen(x->value) == 10 ? 86400 : 1); /* a bare date is the whole day */
	} else if (x->f->type == T_JSON && !x->path) {
		ret = kms_jsonpath_check(x->value, e);
	}
out:
	free(text);
	return ret;
}

static int kms_filter_parse(const char *const *filters, size_t n, struct kms_filter **out, struct kms_err *e)
{
	struct kms_filter *f = calloc(1, sizeof(*f));
	size_t cap = 0;
	int ret = KMS_OK;

	*out = NULL;
	if (!f)
		return kms_fail(e, KMS_E_INTERNAL, "out of memory");
	for (size_t i = 0; ret == KMS_OK && i < n; i++) {
		const char *s = filters[i];

		while (ret == KMS_OK && *s) {
			const char *end = s;
			/* The expression runs to a ';' followed by a new expression (a field name and '['). */
			for (;;) {
				end = strchr(end, ';');
				if (!end || starts_expr(end + 1))
					break;
				end++;
			}
			if (f->n == cap) {
				struct expr *v = realloc(f->v, (cap = cap ? cap * 2 : 4) * sizeof(*v));

				if (!v) {
					ret = kms_fail(e, KMS_E_INTERNAL, "out of memory");
					break;
				}
				f->v = v;
			}
			ret = parse_expr(s, end ? (size_t)(end - s) : strlen(s), &f->v[f->n], e);
			if (ret == KMS_OK)
				f->n++;
			else {
				free(f->v[f->n].path);
				free(f->v[f->n].value);
			}
			s = end ? end + 1 : s + strlen(s);
		}
	}
	if (ret != KMS_OK) {
		kms_filter_free(f);
		return ret;
	}
	*out = f;
	return KMS_OK;
}

/* ---- matching ---- */

static bool ieq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

static bool icontains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (!strncasecmp(hay, needle, n))
			return true;
	return n == 0;
}

/* True when s is one of the comma-separated values of list (case-insensitively when ic). */
static bool in_list(const char *s, const char *list, bool ic)
{
	size_t n = strlen(s);

	while (*list) {
		size_t l = strcspn(list, ",");

		if (l == n && (ic ? !strncasecmp(list, s, n) : !strncmp(list, s, n)))
			return true;
		list += l + (list[l] == ',');
	}
	return false;
}

static bool match_string(const char *s, enum op op, const char *v, bool enum_type)
{
	switch (op) {
	case OP_EQ:
		return enum_type ? ieq(s, v) : !strcmp(s, v);
	case OP_NE:
		return enum_type ? !ieq(s, v) : strcmp(s, v) != 0;
	case OP_EQ_IC:
		return ieq(s, v);
	case OP_NE_IC:
		return !ieq(s, v);
	case OP_CT:
		return strstr(s, v) != NULL;
	case OP_NC:
		return strstr(s, v) == NULL;
	case OP_CT_IC:
		return icontains(s, v);
	case OP_NC_IC:
		return !icontains(s, v);
	case OP_IN:
		return in_list(s, v, enum_type);
	case OP_NIN:
		return !in_list(s, v, enum_type);
	default:
		return false;
	}
}

static bool match_number(double x, enum op op, double v)
{
	switch (op) {
	case OP_EQ:
		return x == v;
	case OP_NE:
		return x != v;
	case OP_LT:
		return x < v;
	case OP_LE:
		return x <= v;
	case OP_GT:
		return x > v;
	case OP_GE:
		return x >= v;
	default:
		return false;
	}
}

/* The JSON value at a dotted path of doc (borrowed), or NULL. */
static json_t *dotted(json_t *doc, const char *path)
{
	char buf[256];
	const char *p = path;

	while (doc && *p) {
		size_t n = strcspn(p, ".");

		if (n >= sizeof(buf))
			return NULL;
		memcpy(buf, p, n);
		buf[n] = 0;
		if (json_is_object(doc))
			doc = json_object_get(doc, buf);
		else if (json_is_array(doc) && n && strspn(buf, "0123456789") == n)
			doc = json_array_get(doc, strtoul(buf, NULL, 10));
		else
			doc = NULL;
		p += n + (p[n] == '.');
	}
	return doc;
}

static bool match_meta_path(json_t *meta, const struct expr *x)
{
	json_t *v = dotted(meta, x->path);
	char *end;
	double num;

	if (!v)
		return x->op == OP_NE || x->op == OP_NE_IC || x->op == OP_NC || x->op == OP_NC_IC || x->op == OP_NIN;
	if (json_is_number(v)) {
		num = strtod(x->value, &end);
		if (*x->value && !*end && (x->op == OP_EQ || x->op == OP_NE || (x->op >= OP_LT && x->op <= OP_GE)))
			return match_number(json_number_value(v), x->op, num);
	}
	if (json_is_string(v))
		return x->op < OP_LT ? match_string(json_string_value(v), x->op, x->value, false) : false;
	if (json_is_boolean(v))
		return x->op < OP_LT && match_string(json_is_true(v) ? "true" : "false", x->op, x->value, false);
	return false;
}

/* The facts of one key that filters and sorts look at. */
struct ksum {
	struct kms_token *tok;
	char engine[33];
	char kid[80];
	char *name, *description;
	const char *alg;
	unsigned long size;
	bool has_priv;
	char created[32];
	time_t created_t;
	unsigned long state;
	struct kms_attr tags, aliases; /* copies (val malloc'd) */
	char *metadata_text;
	json_t *metadata; /* parsed when a filter needs it */
	bool filled; /* from a primary-version object */
};

static void ksum_free(struct ksum *k)
{
	free(k->name);
	free(k->description);
	free(k->tags.val);
	free(k->aliases.val);
	free(k->metadata_text);
	json_decref(k->metadata);
}

static bool list_has(const struct kms_attr *l, const char *v, bool ic)
{
	size_t n = strlen(v);

	for (size_t pos = 0; pos < l->len;) {
		size_t el = strnlen((const char *)l->val + pos, l->len - pos);

		if (el == n && (ic ? !strncasecmp((const char *)l->val + pos, v, n) : !memcmp(l->val + pos, v, n)))
			return true;
		pos += el + 1;
	}
	return false;
}

static bool match(struct ksum *k, const struct expr *x)
{
	switch (x->f->type) {
	case T_LIST:
		return list_has(!strcmp(x->f->name, "tags") ? &k->tags : &k->aliases, x->value, x->op == OP_CT_IC);
	case T_NUMBER:
		return match_number((double)k->size, x->op, x->num);
	case T_DATE:
		return x->op == OP_EQ ? (k->created_t >= x->t0 && k->created_t < x->t1)
		       : x->op == OP_BF ? k->created_t < x->t0
					: k->created_t >= x->t1;
	case T_JSON:
		if (!k->metadata)
			k->metadata = k->metadata_text ? json_loads(k->metadata_text, 0, NULL) : json_object();
		return x->path ? match_meta_path(k->metadata, x) : kms_jsonpath_match(k->metadata, x->value);
	case T_ENUM:
		if (!strcmp(x->f->name, "engine_id"))
			return match_string(k->engine, x->op, x->value, false);
		if (!strcmp(x->f->name, "algorithm"))
			return match_string(k->alg, x->op, x->value, true);
		if (!strcmp(x->f->name, "state"))
			return match_string(kms_state_name(k->state), x->op, x->value, true);
		return match_string(k->has_priv ? "true" : "false", x->op, x->value, true);
	case T_STRING:
		if (!strcmp(x->f->name, "key_id"))
			return match_string(k->kid, x->op, x->value, false);
		return match_string(!strcmp(x->f->name, "name") ? k->name : k->description, x->op, x->value, false);
	}
	return false;
}

/* ---- candidates ---- */

struct cand_set {
	struct ksum *v;
	size_t n, cap;
	json_t *index; /* "engine/kid" -> position + 1 */
};

/* Fills the summary of k from a primary-version object's attributes a. */
static void ksum_fill(struct ksum *k, const struct kms_attrs *a)
{
	const struct kms_attr *v;

	free(k->name);
	free(k->description);
	free(k->tags.val);
	free(k->aliases.val);
	free(k->metadata_text);
	k->tags = k->aliases = (struct kms_attr){0, 0, NULL};
	k->metadata_text = NULL;
	v = kms_attrs_get(a, CKA_LABEL);
	k->name = strndup(v && v->val ? (const char *)v->val : "", v ? v->len : 0);
	v = kms_attrs_get(a, CKA_KMS11_DESCRIPTION);
	k->description = strndup(v && v->val ? (const char *)v->val : "", v ? v->len : 0);
	kms_key_kind(a, &k->alg, &k->size);
	k->state = kms_key_state(a);
	if ((v = kms_attrs_get(a, CKA_KMS11_TAGS)) && v->len && (k->tags.val = malloc(v->len)) != NULL) {
		memcpy(k->tags.val, v->val, v->len);
		k->tags.len = v->len;
	}
	if ((v = kms_attrs_get(a, CKA_KMS11_ALIASES)) && v->len && (k->aliases.val = malloc(v->len)) != NULL) {
		memcpy(k->aliases.val, v->val, v->len);
		k->aliases.len = v->len;
	}
	if ((v = kms_attrs_get(a, CKA_KMS11_METADATA)) && v->len)
		k->metadata_text = strndup((const char *)v->val, v->len);
	k->filled = true;
}

/* Adds an object of tok (attributes a) to the key it belongs to: the summary comes from the primary version,
 * the creation time from the oldest object. */
static int cand_add(struct cand_set *c, struct kms_token *tok, const struct kms_attrs *a)
{
	const struct kms_attr *kid = kms_attrs_get(a, CKA_KMS11_KEY_ID), *v;
	unsigned long cls = 0;
	bool primary = kms_attrs_get_bool(a, CKA_KMS11_PRIMARY, true);
	char key[120], created[32];
	time_t t;
	struct ksum *k;
	json_int_t pos;

	kms_attrs_get_ulong(a, CKA_CLASS, &cls);
	if (!kid || kid->len == 0 || kid->len >= 80 || !kms_attr_is_key_class(cls))
		return 0;
	snprintf(key, sizeof(key), "%u/%.*s", tok->no, (int)kid->len, (const char *)kid->val);
	pos = json_integer_value(json_object_get(c->index, key));
	if (pos) {
		k = &c->v[pos - 1];
	} else {
		if (c->n == c->cap) {
			struct ksum *nv = realloc(c->v, (c->cap = c->cap ? c->cap * 2 : 64) * sizeof(*nv));

			if (!nv)
				return -1;
			c->v = nv;
		}
		k = &c->v[c->n];
		memset(k, 0, sizeof(*k));
		k->tok = tok;
		kms_token_label(tok, k->engine);
		memcpy(k->kid, kid->val, kid->len);
		k->created_t = (time_t)-1;
		c->n++;
		if (json_object_set_new(c->index, key, json_integer((json_int_t)c->n)) != 0)
			return -1;
	}
	if (primary && (!k->filled || cls == CKO_PRIVATE_KEY))
		ksum_fill(k, a);
	if (primary && cls == CKO_PRIVATE_KEY)
		k->has_priv = true;
	v = kms_attrs_get(a, CKA_KMS11_CREATED);
	snprintf(created, sizeof(created), "%.*s", v ? (int)(v->len < 31 ? v->len : 31) : 0,
		 v && v->val ? (const char *)v->val : "");
	if (kms_time_parse(created, &t) != 0)
		t = 0;
	if (k->created_t == (time_t)-1 || t < k->created_t) {
		k->created_t = t;
		memcpy(k->created, created, sizeof(created));
	}
	return 0;
}

/* Adds the keys of tok's objects that match t. */
static int cand_find(struct cand_set *c, struct kms_token *tok, const struct kms_attrs *t, struct kms_err *e)
{
	uint64_t *ids = NULL;
	size_t n = 0;
	CK_RV rv = kms_find_ids(tok, 0, t, true, &ids, &n);
	int ret = rv == CKR_OK ? KMS_OK : kms_fail_rv(e, "list", rv);

	for (size_t i = 0; ret == KMS_OK && i < n; i++) {
		struct kms_attrs a = KMS_ATTRS_INIT;

		if ((ids[i] & KMS_SESSION_OBJ_BIT) || kms_obj_read(tok, ids[i], &a) != CKR_OK)
			continue;
		if (cand_add(c, tok, &a) != 0)
			ret = kms_fail(e, KMS_E_INTERNAL, "out of memory");
		kms_attrs_free(&a);
	}
	free(ids);
	return ret;
}

/* The index a filter allows, most selective first: a tag, an alias or a key id, then the key type (algorithm[eq]) or
 * the state (state[eq]). Fills t with the one attribute to look up and returns 1; 0 when no filter names an index;
 * -1 when no key can match (a state no key has). Every filter still applies to what the index gives. */
static int pick_index(const struct kms_filter *f, struct kms_attrs *t)
{
	for (size_t i = 0; f && i < f->n; i++) {
		const struct expr *x = &f->v[i];
		CK_ATTRIBUTE_TYPE type = 0;

		if (x->op == OP_CT && !strcmp(x->f->name, "tags"))
			type = CKA_KMS11_TAGS;
		else if (x->op == OP_CT && !strcmp(x->f->name, "aliases"))
			type = CKA_KMS11_ALIASES;
		else if (x->op == OP_EQ && !strcmp(x->f->name, "key_id"))
			type = CKA_KMS11_KEY_ID;
		if (type && *x->value)
			return kms_attrs_set(t, type, x->value, strlen(x->value)) == 0 ? 1 : -2;
	}
	for (size_t i = 0; f && i < f->n; i++) {
		const struct expr *x = &f->v[i];
		unsigned long v = 0;

		if (x->op != OP_EQ)
			continue;
		if (!strcmp(x->f->name, "algorithm"))
			v = ieq(x->value, "RSA")       ? CKK_RSA
			    : ieq(x->value, "ECDSA")   ? CKK_EC
			    : ieq(x->value, "Ed25519") || ieq(x->value, "Ed448") ? CKK_EC_EDWARDS
			    : ieq(x->value, "AES")     ? CKK_AES
						       : 0; /* HMAC keys have several key types */
		if (v)
			return kms_attrs_set_ulong(t, CKA_KEY_TYPE, v) == 0 ? 1 : -2;
		if (!strcmp(x->f->name, "state")) {
			v = ieq(x->value, "enabled") ? KMS11_STATE_ENABLED : ieq(x->value, "disabled") ? KMS11_STATE_DISABLED
			    : ieq(x->value, "pending_deletion")		   ? KMS11_STATE_PENDING_DELETION
									   : 0;
			if (!v)
				return -1;
			return kms_attrs_set_ulong(t, CKA_KMS11_STATE, v) == 0 ? 1 : -2;
		}
	}
	return 0;
}

/* The candidates of tok: through the most selective index a filter allows, else every key object. */
static int candidates(struct cand_set *c, struct kms_token *tok, const struct kms_filter *f, struct kms_err *e)
{
	static const CK_OBJECT_CLASS classes[] = {CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKO_SECRET_KEY};
	struct kms_attrs t = KMS_ATTRS_INIT;
	int ret = KMS_OK, r = pick_index(f, &t);

	if (r == -2)
		ret = kms_fail(e, KMS_E_INTERNAL, "out of memory");
	else if (r == 1)
		ret = cand_find(c, tok, &t, e);
	for (size_t i = 0; r == 0 && ret == KMS_OK && i < 3; i++) {
		kms_attrs_set_ulong(&t, CKA_CLASS, classes[i]);
		ret = cand_find(c, tok, &t, e);
		kms_attrs_free(&t);
	}
	kms_attrs_free(&t);
	return ret;
}

/* ---- sorting and bookmarks ---- */

static int cmp_keys(const struct ksum *a, const struct ksum *b, const char *sort_field)
{
	int c = 0;

	if (!strcmp(sort_field, "name"))
		c = strcmp(a->name, b->name);
	else if (!strcmp(sort_field, "size"))
		c = (a->size > b->size) - (a->size < b->size);
	else if (!strcmp(sort_field, "algorithm"))
		c = strcmp(a->alg, b->alg);
	else if (!strcmp(sort_field, "engine_id"))
		c = strcmp(a->engine, b->engine);
	else if (!strcmp(sort_field, "state"))
		c = (a->state > b->state) - (a->state < b->state);
	else if (!strcmp(sort_field, "creation_ts"))
		c = (a->created_t > b->created_t) - (a->created_t < b->created_t);
	if (c == 0)
		c = strcmp(a->engine, b->engine);
	return c ? c : strcmp(a->kid, b->kid);
}

static int cmp_sort(const void *x, const void *y, void *ctx)
{
	const struct kms_query *q = ctx;
	int c = cmp_keys(*(struct ksum *const *)x, *(struct ksum *const *)y, q->sort_by ? q->sort_by : "creation_ts");

	return q->desc ? -c : c;
}

/* A fingerprint of the query a bookmark belongs to. */
static char *query_hash(const struct kms_query *q)
{
	json_t *j = json_array();
	unsigned char md[32];
	char *text, *out;

	for (size_t i = 0; i < q->nfilters; i++)
		json_array_append_new(j, json_string(q->filters[i]));
	json_array_append_new(j, json_string(q->sort_by ? q->sort_by : "creation_ts"));
	json_array_append_new(j, json_boolean(q->desc));
	json_array_append_new(j, json_string(q->engine_id ? q->engine_id : ""));
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	out = NULL;
	if (text && kms_sha256() && EVP_Digest(text, strlen(text), md, NULL, kms_sha256(), NULL) == 1)
		out = kms_hex_encode(md, 16);
	free(text);
	return out;
}

int kms_query_check(const struct kms_query *q, struct kms_err *e)
{
	struct kms_filter *f = NULL;
	int ret;

	if (q->sort_by) {
		const struct field *sf = field_named(q->sort_by, strlen(q->sort_by));

		if (!sf || !sf->sortable)
			return kms_fail(e, KMS_E_INPUT, "sort_by: '%s' is not a sortable field (creation_ts, name, size, "
				       "key_id, algorithm, engine_id, state)", q->sort_by);
	}
	if (q->page_size > 1000)
		return kms_fail(e, KMS_E_INPUT, "page_size: at most 1000");
	ret = kms_filter_parse(q->filters, q->nfilters, &f, e);
	kms_filter_free(f);
	if (ret == KMS_OK && q->bookmark && *q->bookmark) {
		uint8_t *raw = NULL;
		size_t rawlen = 0;
		json_t *b = NULL;

		if (kms_base64_decode(q->bookmark, &raw, &rawlen) != 0 ||
		    !(b = json_loadb((const char *)raw, rawlen, 0, NULL)) || !json_is_string(json_object_get(b, "q")) ||
		    !json_is_string(json_object_get(b, "e")) || !json_is_string(json_object_get(b, "k")))
			ret = kms_fail(e, KMS_E_INPUT, "bookmark: not a bookmark of this service");
		json_decref(b);
		free(raw);
	}
	return ret;
}

/* Whether a list looks at tok: the --engine-id token when one is given, and only tokens engine_id filters allow
 * (they pick tokens before any record is read). */
static bool token_wanted(struct kms_token *tok, const struct kms_token *only, const struct kms_filter *f)
{
	char label[33];

	if (only && tok != only)
		return false;
	kms_token_label(tok, label);
	for (size_t j = 0; j < f->n; j++) {
		const struct expr *x = &f->v[j];

		if (x->f->type == T_ENUM && !strcmp(x->f->name, "engine_id") && !match_string(label, x->op, x->value, false))
			return false;
	}
	return true;
}

/* A page: the keys sel[0..n) as key objects, and when more follow, the bookmark of the last one. */
static json_t *page_json(const char *qh, struct ksum *const *sel, size_t n, bool more)
{
	json_t *list = json_array(), *out;
	char *next = NULL;

	for (size_t i = 0; i < n; i++) {
		struct kms_key k;

		if (kms_key_load(sel[i]->tok, sel[i]->kid, &k, NULL) == KMS_OK) {
			json_array_append_new(list, kms_key_json(&k));
			kms_key_free(&k);
		}
	}
	if (more && n) {
		const struct ksum *last = sel[n - 1];
		json_t *b = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "q", qh, "e", last->engine, "k", last->kid, "name",
				      last->name, "alg", last->alg, "size", (json_int_t)last->size, "state",
				      (json_int_t)last->state, "t", (json_int_t)last->created_t);
		char *text = json_dumps(b, JSON_COMPACT);

		next = text ? kms_base64_encode((const uint8_t *)text, strlen(text)) : NULL;
		free(text);
		json_decref(b);
	}
	out = json_pack("{s:o,s:s}", "list", list, "next", next ? next : "");
	free(next);
	return out;
}

/* ---- pages in creation order, read from the creation-time index ---- */

#define WALK_BATCH 64

/* One token's walk of its creation-time index. */
struct stream {
	struct kms_token *tok;
	char label[33];
	bool has_pre;  /* a filter names an index: only entries with one of its ids can match */
	uint64_t *pre; /* that index's ids, sorted */
	size_t npre;
	struct kms_store_centry buf[WALK_BATCH];
	size_t n, pos;
	bool end, have_from;
	struct kms_store_cpos from;
	char fromkid[KMS_STORE_KID_MAX + 1];
};

/* The stream's next entry (NULL at its end), reading the next batch when the last is used up. */
static int stream_head(struct stream *st, bool desc, struct kms_store_centry **head, struct kms_err *e)
{
	if (st->pos == st->n && !st->end) {
		CK_RV rv = kms_store_created_read(kms_mod.store, st->tok->no, desc, st->have_from ? &st->from : NULL, st->buf,
						  WALK_BATCH, &st->n);

		if (rv != CKR_OK)
			return kms_fail_rv(e, "list", rv);
		st->pos = 0;
		st->end = st->n < WALK_BATCH;
		if (st->n) {
			st->from.t = st->buf[st->n - 1].t;
			memcpy(st->fromkid, st->buf[st->n - 1].kid, sizeof(st->fromkid));
			st->from.kid = st->fromkid;
			st->have_from = true;
		}
	}
	*head = st->pos < st->n ? &st->buf[st->pos] : NULL;
	return KMS_OK;
}

/* The list order of creation_ts: time, then token label, then key id (as cmp_keys). */
static int head_cmp(const struct kms_store_centry *a, const char *la, const struct kms_store_centry *b, const char *lb)
{
	int c = (a->t > b->t) - (a->t < b->t);

	if (c == 0)
		c = strcmp(la, lb);
	return c ? c : strcmp(a->kid, b->kid);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Whether the prefilter lets entry h through. */
static bool stream_pre(const struct stream *st, const struct kms_store_centry *h)
{
	if (!st->has_pre || h->nids > KMS_STORE_CENTRY_IDS)
		return true;
	for (size_t i = 0; i < h->nids; i++)
		if (st->npre && bsearch(&h->ids[i], st->pre, st->npre, sizeof(uint64_t), u64_cmp))
			return true;
	return false;
}

/* The key of entry h when h is the key's own position (the key's creation time is h's: a later version's entry is
 * not) and every filter matches it: 1 with *out filled (the caller frees it), 0 when not, -1 on error. */
static int walk_take(struct stream *st, const struct kms_store_centry *h, const struct kms_filter *f, struct ksum *out,
		     struct kms_err *e)
{
	struct cand_set c = {.index = json_object()};
	struct kms_attrs t = KMS_ATTRS_INIT;
	int ret = KMS_OK;
	bool ok;

	if (!c.index || kms_attrs_set(&t, CKA_KMS11_KEY_ID, h->kid, strlen(h->kid)) != 0)
		ret = kms_fail(e, KMS_E_INTERNAL, "out of memory");
	else
		ret = cand_find(&c, st->tok, &t, e);
	kms_attrs_free(&t);
	ok = ret == KMS_OK && c.n == 1 && c.v[0].filled && c.v[0].created_t == h->t;
	for (size_t j = 0; ok && j < f->n; j++)
		ok = match(&c.v[0], &f->v[j]);
	if (ok)
		*out = c.v[0];
	else
		for (size_t i = 0; i < c.n; i++)
			ksum_free(&c.v[i]);
	free(c.v);
	json_decref(c.index);
	return ret != KMS_OK ? -1 : ok;
}

/* A list page in creation order read from the creation-time index: the tokens' walks merged in list order from the
 * bookmark's position, each entry's key read and filtered, until one key more than the page is found. Chosen when it
 * reads less than the candidates' records would: *out stays NULL otherwise (and for sorts by other fields). */
static int walk_list(const struct kms_query *q, const struct kms_filter *f, const struct kms_token *only,
		     const struct ksum *after, const char *qh, size_t page, json_t **out, struct kms_err *e)
{
	struct kms_attrs t = KMS_ATTRS_INIT;
	struct stream *sts = NULL;
	struct ksum *got = NULL, **sel = NULL;
	size_t nst = 0, ngot = 0, npre = 0;
	uint64_t nall = 0;
	double walk_cost, read_cost;
	int ret = KMS_OK, r;

	if (q->sort_by && strcmp(q->sort_by, "creation_ts") != 0)
		return KMS_OK;
	r = pick_index(f, &t);
	if (r == -2 || !(sts = calloc(kms_mod.n_tokens ? kms_mod.n_tokens : 1, sizeof(*sts))) ||
	    !(got = calloc(page + 1, sizeof(*got))) || !(sel = calloc(page + 1, sizeof(*sel)))) {
		ret = kms_fail(e, KMS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (!kms_mod_store_now() || kms_store_created_count(kms_mod.store, &nall) != CKR_OK)
		goto out; /* the candidates' way then (no store yet: nothing) */
	for (size_t i = 0; ret == KMS_OK && i < kms_mod.n_tokens; i++) {
		struct stream *st = &sts[nst];
		CK_RV rv;

		if (!token_wanted(&kms_mod.tokens[i], only, f))
			continue;
		st->tok = &kms_mod.tokens[i];
		kms_token_label(st->tok, st->label);
		st->has_pre = r == 1;
		if (r == 1 && (rv = kms_store_index_ids(kms_mod.store, st->tok->no, &t, &st->pre, &st->npre)) != CKR_OK)
			ret = kms_fail_rv(e, "list", rv);
		npre += st->npre;
		if (after) {
			/* Strictly past (time, token, key id): a token ordered before the bookmark's skips that second, one
			 * after it keeps it. */
			int c = strcmp(st->label, after->engine);

			st->from.t = (int64_t)after->created_t;
			st->from.kid = c < 0 ? NULL : c > 0 ? "" : st->fromkid;
			snprintf(st->fromkid, sizeof(st->fromkid), "%s", after->kid);
			st->have_from = true;
		}
		nst++;
	}
	if (ret != KMS_OK)
		goto out;
	/* Costs in µs, measured on this store's code: an index entry stepped over, a key read and filtered, and a
	 * candidate record read by the other way. */
	if (r == 1) {
		walk_cost = (double)(page + 1) * ((double)nall / (npre ? (double)npre : 0.5)) * 0.25 + (double)(page + 1) * 12;
		read_cost = (double)npre * 3;
	} else {
		walk_cost = (double)(page + 1) * 12.25;
		read_cost = r == -1 ? 0 : (double)nall * 3;
	}
	if (walk_cost >= read_cost)
		goto out;
	while (ngot < page + 1) {
		struct stream *best = NULL;
		struct kms_store_centry *bh = NULL, *h = NULL;

		for (size_t i = 0; i < nst; i++) {
			if ((ret = stream_head(&sts[i], q->desc, &h, e)) != KMS_OK)
				goto out;
			if (h && (!best || (q->desc ? head_cmp(h, sts[i].label, bh, best->label) > 0
						   : head_cmp(h, sts[i].label, bh, best->label) < 0))) {
				best = &sts[i];
				bh = h;
			}
		}
		if (!best)
			break;
		best->pos++;
		if (!stream_pre(best, bh))
			continue;
		r = walk_take(best, bh, f, &got[ngot], e);
		if (r < 0) {
			ret = KMS_E_INTERNAL;
			goto out;
		}
		if (r == 1)
			sel[ngot] = &got[ngot], ngot++;
	}
	*out = page_json(qh, sel, ngot > page ? page : ngot, ngot > page);
out:
	for (size_t i = 0; i < ngot; i++)
		ksum_free(&got[i]);
	for (size_t i = 0; sts && i < nst; i++)
		free(sts[i].pre);
	free(sts);
	free(got);
	free(sel);
	kms_attrs_free(&t);
	return ret;
}

int kms_key_query(const struct kms_query *q, enum kms_query_kind kind, json_t **out, struct kms_err *e)
{
	struct cand_set c = {.index = json_object()};
	struct kms_filter *f = NULL;
	struct kms_token *only = NULL;
	struct ksum **sel = NULL, after;
	json_t *bm = NULL;
	char *qh = NULL;
	size_t nsel = 0, start = 0, page = q->page_size ? q->page_size : 25;
	bool have_after = false;
	int ret;

	*out = NULL;
	memset(&after, 0, sizeof(after));
	if ((ret = kms_query_check(q, e)) != KMS_OK || (ret = kms_filter_parse(q->filters, q->nfilters, &f, e)) != KMS_OK)
		goto out;
	if (q->engine_id && (ret = kms_mgr_token(q->engine_id, &only, e)) != KMS_OK)
		goto out;
	qh = query_hash(q);
	if (!qh) {
		ret = kms_fail(e, KMS_E_INTERNAL, "out of memory");
		goto out;
	}
	if (kind == KMS_QUERY_LIST && q->bookmark && *q->bookmark) {
		uint8_t *raw = NULL;
		size_t rawlen = 0;

		kms_base64_decode(q->bookmark, &raw, &rawlen);
		bm = json_loadb((const char *)raw, rawlen, 0, NULL);
		free(raw);
		if (strcmp(json_string_value(json_object_get(bm, "q")), qh) != 0) {
			ret = kms_fail(e, KMS_E_INPUT, "bookmark: it belongs to another query (filters, sort or engine "
				       "differ from the page it came from)");
			goto out;
		}
		/* The position: the last key of the previous page, by its sort value, engine and key id. */
		snprintf(after.engine, sizeof(after.engine), "%s", json_string_value(json_object_get(bm, "e")));
		snprintf(after.kid, sizeof(after.kid), "%s", json_string_value(json_object_get(bm, "k")));
		after.name = (char *)json_string_value(json_object_get(bm, "name"));
		after.name = after.name ? after.name : (char *)"";
		after.alg = json_string_value(json_object_get(bm, "alg"));
		after.alg = after.alg ? after.alg : "";
		after.size = (unsigned long)json_integer_value(json_object_get(bm, "size"));
		after.state = (unsigned long)json_integer_value(json_object_get(bm, "state"));
		after.created_t = (time_t)json_integer_value(json_object_get(bm, "t"));
		have_after = true;
	}
	if (kind == KMS_QUERY_LIST && ((ret = walk_list(q, f, only, have_after ? &after : NULL, qh, page, out, e)) != KMS_OK || *out))
		goto out;
	for (size_t i = 0; ret == KMS_OK && i < kms_mod.n_tokens; i++)
		if (token_wanted(&kms_mod.tokens[i], only, f))
			ret = candidates(&c, &kms_mod.tokens[i], f, e);
	if (ret != KMS_OK)
		goto out;
	sel = calloc(c.n ? c.n : 1, sizeof(*sel));
	if (!sel) {
		ret = kms_fail(e, KMS_E_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c.n; i++) {
		bool ok = c.v[i].filled;

		for (size_t j = 0; ok && j < f->n; j++)
			ok = match(&c.v[i], &f->v[j]);
		if (ok)
			sel[nsel++] = &c.v[i];
	}
	if (kind == KMS_QUERY_COUNT) {
		*out = json_pack("{s:I}", "count", (json_int_t)nsel);
		goto out;
	}
	if (kind == KMS_QUERY_STATS) {
		json_t *by_engine = json_object(), *by_alg = json_object(), *by_state = json_object();

		for (size_t i = 0; i < nsel; i++) {
			const char *st = kms_state_name(sel[i]->state);

			json_object_set_new(by_engine, sel[i]->engine,
					    json_integer(json_integer_value(json_object_get(by_engine, sel[i]->engine)) + 1));
			json_object_set_new(by_alg, sel[i]->alg,
					    json_integer(json_integer_value(json_object_get(by_alg, sel[i]->alg)) + 1));
			json_object_set_new(by_state, st, json_integer(json_integer_value(json_object_get(by_state, st)) + 1));
		}
		*out = json_pack("{s:I,s:o,s:o,s:o}", "total", (json_int_t)nsel, "engines", by_engine, "algorithms", by_alg,
				 "states", by_state);
		goto out;
	}
	qsort_r(sel, nsel, sizeof(*sel), cmp_sort, (void *)q);
	if (have_after) {
		const struct ksum *pos = &after;

		while (start < nsel && cmp_sort(&sel[start], &pos, (void *)q) <= 0)
			start++;
	}
	*out = page_json(qh, sel + start, start + page < nsel ? page : nsel - start, start + page < nsel);
out:
	for (size_t i = 0; i < c.n; i++)
		ksum_free(&c.v[i]);
	free(c.v);
	free(sel);
	json_decref(c.index);
	json_decref(bm);
	kms_filter_free(f);
	free(qh);
	return ret;
}
