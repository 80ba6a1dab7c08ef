/* SPDX-License-Identifier: Apache-2.0 */
/* kms11: the management CLI. It parses and checks its arguments, calls the management library (module/kms)
 * and prints JSON; it holds no rule of its own. Exit status: 0 done, 1 internal failure, 2 bad input (or a
 * KEY naming several keys), 3 not found, 4 conflict, 5 not permitted. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include <openssl/crypto.h>

#include "common/mem.h"
#include "common/util.h"
#include "module/kms/kms.h"

#define MAX_REPEAT 64

/* One option of a verb. */
struct opt {
	const char *name; /* without the leading dashes */
	const char *arg;  /* the value's name in help, NULL for a flag */
	const char *help;
};

/* The options many verbs share, and the end of a table. */
#define OPT_ENGINE_LOOK {"engine-id", "TOKEN", "look in this token only"}
/* The naming options of a new key. */
#define OPT_NAMING                                                                  \
	{"name", "NAME", "the key's name, unique within its token"},                   \
	    {"description", "TEXT", "a description"}, {"metadata", "JSON", "a JSON object"}
/* A new key's tags (first, so that it may repeat) and expiration date. */
#define OPT_TAG {"tag", "T", "a tag (repeat for more)"}
#define OPT_EXPIRATION {"expiration-date", "ISO8601", "after it the key no longer signs, encrypts or wraps"}
#define OPT_USER_PIN {"pin", "PIN", "the user PIN (else KMS11_PIN, else a prompt)"}
#define OPT_END {NULL, NULL, NULL}

/* What the parser found. */
struct args {
	const char *val[16]; /* by option index; "" for a flag that was given */
	const char *rep[16][MAX_REPEAT];
	size_t nrep[16];
	const char *pos; /* the one positional argument (KEY) */
};

struct verb {
	const char *group, *name, *pos, *summary;
	const struct opt *opts; /* NULL-terminated */
	bool repeat_first;      /* the first option may be repeated (--tag) */
	int (*run)(const struct verb *v, struct args *a);
};

static bool table_out;

static int say_err(struct kms_err *e)
{
	json_t *o = json_pack("{s:s}", "err", e->msg);

	json_dumpf(o, stderr, JSON_INDENT(2));
	fputc('\n', stderr);
	json_decref(o);
	return e->code;
}

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...)
{
	struct kms_err e = {.code = code};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	return say_err(&e);
}

/* Prints a list as an aligned table: the columns of the key objects people look at first. */
static void print_table(json_t *o)
{
	static const char *const cols[] = {"name", "algorithm", "size", "engine_id", "state", "key_id"};
	json_t *list = json_object_get(o, "list"), *k;
	size_t w[6], i;

	for (i = 0; i < 6; i++)
		w[i] = strlen(cols[i]);
	json_array_foreach(list, i, k) for (size_t c = 0; c < 6; c++)
	{
		json_t *v = json_object_get(k, cols[c]);
		char buf[32];
		size_t l = json_is_string(v) ? strlen(json_string_value(v))
					     : (size_t)snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));

		if (l > w[c])
			w[c] = l;
	}
	for (size_t c = 0; c < 6; c++)
		printf("%-*s%s", c < 5 ? (int)w[c] : 0, cols[c], c < 5 ? "  " : "\n");
	json_array_foreach(list, i, k) for (size_t c = 0; c < 6; c++)
	{
		json_t *v = json_object_get(k, cols[c]);

		int width = c < 5 ? (int)w[c] : 0;

		if (json_is_string(v))
			printf("%-*s%s", width, json_string_value(v), c < 5 ? "  " : "\n");
		else
			printf("%-*lld%s", width, (long long)json_integer_value(v), c < 5 ? "  " : "\n");
	}
	if (json_string_length(json_object_get(o, "next")))
		printf("next: %s\n", json_string_value(json_object_get(o, "next")));
}

static int print_json(json_t *o)
{
	if (table_out && json_object_get(o, "list"))
		print_table(o);
	else {
		json_dumpf(o, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	}
	json_decref(o);
	return 0;
}

/* Reads a secret from the terminal without echo; NULL when there is no terminal. */
static char *prompt_secret(const char *what)
{
	struct termios old, noecho;
	char buf[KMS_MAX_PIN + 2];
	FILE *tty = fopen("/dev/tty", "r+");
	char *pin = NULL;
	bool restore = false;

	if (!tty)
		return NULL;
	fprintf(tty, "%s: ", what);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) == 0) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		restore = tcsetattr(fileno(tty), TCSAFLUSH, &noecho) == 0;
	}
	if (fgets(buf, sizeof(buf), tty)) {
		buf[strcspn(buf, "\r\n")] = 0;
		pin = strdup(buf);
	}
	if (restore)
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	kms_wipe(buf, sizeof(buf));
	return pin;
}

/* A PIN from its option, its environment variable or the terminal; NULL when there is none. */
static char *get_pin(const char *given, const char *env, const char *prompt)
{
	const char *v = getenv(env);

	if (given)
		return strdup(given);
	if (v && *v)
		return strdup(v);
	return prompt_secret(prompt);
}

static void free_secret(char *s)
{
	if (s) {
		kms_wipe(s, strlen(s));
		free(s);
	}
}

/* Parses a whole decimal number in [lo, hi]; false otherwise. */
static bool parse_num(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* Index of option name in v->opts, or -1. */
static int opt_index(const struct verb *v, const char *name)
{
	for (int i = 0; v->opts && v->opts[i].name; i++)
		if (!strcmp(v->opts[i].name, name))
			return i;
	return -1;
}

/* The value of option name (NULL when absent or when the verb has no such option). */
static const char *optval(const struct args *a, const struct verb *v, const char *name)
{
	int i = opt_index(v, name);

	return i < 0 ? NULL : a->val[i];
}

#define OPT(a, v, name) optval((a), (v), (name))

static void verb_help(const struct verb *v, FILE *out)
{
	/* Every verb takes --table and --help at least. */
	fprintf(out, "usage: kms11 %s%s%s%s%s [options]\n  %s\noptions:\n", v->group, *v->name ? " " : "", v->name,
		v->pos ? " " : "", v->pos ? v->pos : "", v->summary);
	for (int i = 0; v->opts && v->opts[i].name; i++) {
		char left[64];

		snprintf(left, sizeof(left), "--%s%s%s", v->opts[i].name, v->opts[i].arg ? " " : "",
			 v->opts[i].arg ? v->opts[i].arg : "");
		fprintf(out, "  %-26s %s\n", left, v->opts[i].help);
	}
	fputs("  --table                    lists as an aligned table instead of JSON\n"
	      "  -h, --help                 this help\n",
	      out);
}

/* Parses argv (after the verb) into a; exit status on an error (the message printed). */
static int parse(const struct verb *v, int argc, char **argv, struct args *a, bool *help)
{
	memset(a, 0, sizeof(*a));
	*help = false;
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i], *eq, *val = NULL;
		char name[64];
		int k;

		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			*help = true;
			return 0;
		}
		if (!strcmp(arg, "--table")) {
			table_out = true;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0 || !strcmp(arg, "--")) {
			if (!v->pos)
				return fail(2, "kms11 %s %s takes no argument '%s'", v->group, v->name, arg);
			if (a->pos)
				return fail(2, "unexpected argument '%s' (the key is '%s')", arg, a->pos);
			a->pos = arg;
			continue;
		}
		eq = strchr(arg + 2, '=');
		snprintf(name, sizeof(name), "%.*s", (int)(eq ? (size_t)(eq - arg - 2) : strlen(arg + 2)), arg + 2);
		k = opt_index(v, name);
		if (k < 0)
			return fail(2, "kms11 %s %s has no option '--%s' (see kms11 %s %s --help)", v->group, v->name,
				    name, v->group, v->name);
		if (!v->opts[k].arg) {
			if (eq)
				return fail(2, "--%s takes no value", name);
			a->val[k] = "";
			continue;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return fail(2, "--%s needs a value (%s)", name, v->opts[k].arg);
		if (k == 0 && v->repeat_first) {
			if (a->nrep[k] == MAX_REPEAT)
				return fail(2, "--%s: at most %d", name, MAX_REPEAT);
			a->rep[k][a->nrep[k]++] = val;
		} else if (a->val[k]) {
			return fail(2, "--%s given twice", name);
		}
		a->val[k] = val;
	}
	if (v->pos && !a->pos && strcmp(v->pos, "[KEY]") != 0)
		return fail(2, "kms11 %s %s needs %s", v->group, v->name, v->pos);
	return 0;
}

/* Decodes the base64 of option name (required unless optional); exit status or 0. */
static int b64_opt(const struct verb *v, struct args *a, const char *name, bool optional, uint8_t **out, size_t *len)
{
	const char *val = OPT(a, v, name);

	*out = NULL;
	*len = 0;
	if (!val)
		return optional ? 0 : fail(2, "%s: --%s is needed", name, name);
	if (kms_base64_decode(val, out, len) != 0)
		return fail(2, "%s: not standard base64", name);
	return 0;
}

static json_t *b64_json(const uint8_t *p, size_t n)
{
	char *b = kms_base64_encode(p, n);
	json_t *j = json_string(b ? b : "");

	free(b);
	return j;
}

/* ---- key verbs ---- */

static const struct opt o_create[] = {
	OPT_TAG,
	{"algorithm", "A", "RSA, ECDSA, Ed25519, AES or HMAC"},
	{"size", "N", "RSA 2048|3072|4096, ECDSA 256|384|521, AES 128|192|256, HMAC 256|384|512"},
	{"engine-id", "TOKEN", "the token that makes the key (default: the first)"},
	OPT_NAMING,
	{"extractable", NULL, "the key may be exported (default: never)"},
	OPT_EXPIRATION,
	OPT_USER_PIN,
	OPT_END,
};
static const struct opt o_import[] = {
	OPT_TAG,
	{"private-key", "B64", "base64 of a PEM or DER private key (PKCS#8, PKCS#1, SEC1, encrypted PKCS#8)"},
	{"public-key", "B64", "base64 of a PEM or DER public key (SPKI): a key without its private half"},
	{"secret", "B64", "base64 of a secret key's bytes (with --algorithm AES or HMAC)"},
	{"algorithm", "A", "AES or HMAC for --secret; AES, HMAC, RSA, ECDSA or Ed25519 for --wrapped"},
	{"passphrase", "P", "the passphrase of an encrypted PKCS#8 key"},
	{"wrapped", "B64", "key material wrapped for this token (kms11 wrapping-key), with --algorithm"},
	{"engine-id", "TOKEN", "the token that takes the key (default: the first)"},
	OPT_NAMING,
	{"extractable", NULL, "the key may be exported (default: never)"},
	OPT_EXPIRATION,
	OPT_USER_PIN,
	OPT_END,
};
static const struct opt o_adopt[] = {
	OPT_TAG,
	{"backend-label", "L", "the backend key's CKA_LABEL"},
	{"backend-id", "HEX", "the backend key's CKA_ID in hex"},
	{"engine-id", "TOKEN", "the pkcs11-engine token whose backend holds the key (default: the first)"},
	OPT_NAMING,
	OPT_EXPIRATION,
	OPT_USER_PIN,
	OPT_END,
};
static const struct opt o_read[] = {
	OPT_ENGINE_LOOK,
	OPT_END,
};
static const struct opt o_change[] = {
	OPT_ENGINE_LOOK,
	OPT_USER_PIN,
	OPT_END,
};
static const struct opt o_rename[] = {
	{"name", "NAME", "the new name"},
	OPT_ENGINE_LOOK,
	OPT_USER_PIN,
	OPT_END,
};
static const struct opt o_tags[] = {
	{"tag", "T", "a tag (repeat for more); replaces every tag"},
	{"clear", NULL, "remove every tag"},
	OPT_ENGINE_LOOK,
	OPT_USER_PIN,
	OPT_END,
};
static const struct opt o_patch[] = {
	{"patch", "JSON", "an RFC 6902 JSON Patch (array of operations)"},
	OPT_ENGINE_LOOK,
	OPT_USER_PIN,
	OPT_END,
};
static const struct opt o_schedule[] = {
	{"days", "N", "days until deletion, 7 to 30 (default 30)"},
	OPT_ENGINE_LOOK,
	OPT_USER_PIN,
	OPT_END,
};

/* Starts the module, resolves the KEY argument and, for a change, logs in to its token. */
/* Logs in to tok with the verb's user PIN (--pin, KMS11_PIN or a prompt); exit status or 0. On failure the error
 * is printed and the module stopped. */
static int verb_login(const struct verb *v, struct args *a, struct kms_token *tok, struct kms_login *l)
{
	struct kms_err e = {0};
	char *pin = get_pin(OPT(a, v, "pin"), "KMS11_PIN", "User PIN");
	int ret;

	if (!pin) {
		kms_mgr_stop();
		return fail(2, "pin: a user PIN is needed (--pin, KMS11_PIN or a terminal)");
	}
	ret = kms_mgr_login(tok, pin, l, &e);
	free_secret(pin);
	if (ret != KMS_OK) {
		kms_mgr_stop();
		return say_err(&e);
	}
	return 0;
}

/* Starts the module and logs in to the token engine_id names (the first for NULL); exit status or 0. */
static int token_open(const struct verb *v, struct args *a, const char *engine_id, struct kms_login *l)
{
	struct kms_err e = {0};
	struct kms_token *tok;

	if (kms_mgr_start(&e) != KMS_OK)
		return say_err(&e);
	if (kms_mgr_token(engine_id, &tok, &e) != KMS_OK) {
		kms_mgr_stop();
		return say_err(&e);
	}
	return verb_login(v, a, tok, l);
}

/* Starts the module, resolves the KEY argument and, for a change, logs in to its token. */
static int key_open(const struct verb *v, struct args *a, bool change, struct kms_key *k, struct kms_login *l)
{
	struct kms_err e = {0};
	int ret;

	if (kms_mgr_start(&e) != KMS_OK)
		return say_err(&e);
	if (kms_key_resolve(a->pos, OPT(a, v, "engine-id"), k, &e) != KMS_OK) {
		kms_mgr_stop();
		return say_err(&e);
	}
	if (!change)
		return 0;
	ret = verb_login(v, a, k->tok, l);
	if (ret)
		kms_key_free(k);
	return ret;
}

/* Prints the key (or the error) and ends what key_open started. */
static int key_close(int ret, struct kms_err *e, struct kms_key *k, struct kms_login *l, bool print_key)
{
	if (ret == KMS_OK && print_key)
		print_json(kms_key_json(k));
	if (l)
		kms_mgr_logout(l);
	kms_key_free(k);
	kms_mgr_stop();
	return ret == KMS_OK ? 0 : say_err(e);
}

static int run_create(const struct verb *v, struct args *a)
{
	struct kms_create c = {0};
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	unsigned long size = 0;
	int ret;

	c.algorithm = OPT(a, v, "algorithm");
	if (OPT(a, v, "size") && !parse_num(OPT(a, v, "size"), 1, 16384, &size))
		return fail(2, "size: '%s' is not a number", OPT(a, v, "size"));
	c.size = size;
	c.engine_id = OPT(a, v, "engine-id");
	c.name = OPT(a, v, "name");
	c.description = OPT(a, v, "description");
	c.metadata = OPT(a, v, "metadata");
	c.tags = a->rep[0];
	c.ntags = a->nrep[0];
	c.extractable = OPT(a, v, "extractable") != NULL;
	c.expiration = OPT(a, v, "expiration-date");
	if (kms_create_check(&c, &e) != KMS_OK)
		return say_err(&e);
	if ((ret = token_open(v, a, c.engine_id, &l)) != 0)
		return ret;
	ret = kms_key_create(&l, &c, &k, &e);
	return key_close(ret, &e, &k, &l, true);
}

static const struct opt o_list[] = {
	{"filter", "EXPR", "field[op]value (FILTERS.md); repeat for more, all must hold"},
	{"sort-by", "FIELD", "creation_ts (default), name, size, key_id, algorithm, engine_id, state"},
	{"sort-mode", "MODE", "asc (default) or desc"},
	{"page-size", "N", "keys per page, 1 to 1000 (default 25)"},
	{"limit", "N", "the same as --page-size"},
	{"bookmark", "B", "the \"next\" of the previous page"},
	{"engine-id", "TOKEN", "this token only"},
	OPT_END,
};
static const struct opt o_count[] = {
	{"filter", "EXPR", "field[op]value (FILTERS.md); repeat for more, all must hold"},
	{"engine-id", "TOKEN", "this token only"},
	OPT_END,
};

/* key list, count and stats: the query is checked before the store is opened. */
static int run_query(const struct verb *v, struct args *a)
{
	struct kms_query q = {.filters = a->rep[0], .nfilters = a->nrep[0]};
	enum kms_query_kind kind = !strcmp(v->name, "count") ? KMS_QUERY_COUNT
				   : !strcmp(v->name, "stats") ? KMS_QUERY_STATS
							       : KMS_QUERY_LIST;
	const char *mode = OPT(a, v, "sort-mode"), *ps = OPT(a, v, "page-size"), *lim = OPT(a, v, "limit");
	struct kms_err e = {0};
	unsigned long page = 0;
	json_t *out = NULL;
	int ret;

	q.sort_by = OPT(a, v, "sort-by");
	q.bookmark = OPT(a, v, "bookmark");
	q.engine_id = OPT(a, v, "engine-id");
	if (mode && strcmp(mode, "asc") && strcmp(mode, "desc"))
		return fail(2, "sort_mode: '%s' is not asc or desc", mode);
	q.desc = mode && !strcmp(mode, "desc");
	if (ps && lim)
		return fail(2, "page_size: --page-size and --limit are the same option");
	if ((ps || lim) && !parse_num(ps ? ps : lim, 1, 1000, &page))
		return fail(2, "page_size: '%s' is not a number from 1 to 1000", ps ? ps : lim);
	q.page_size = page;
	if (kms_query_check(&q, &e) != KMS_OK)
		return say_err(&e);
	if (kms_mgr_start(&e) != KMS_OK)
		return say_err(&e);
	ret = kms_key_query(&q, kind, &out, &e);
	kms_mgr_stop();
	return ret == KMS_OK ? print_json(out) : say_err(&e);
}

static int run_adopt(const struct verb *v, struct args *a)
{
	const char *blabel = OPT(a, v, "backend-label"), *bidhex = OPT(a, v, "backend-id");
	struct kms_create c;
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	uint8_t *bid = NULL;
	size_t bidlen = 0;
	int ret;

	memset(&c, 0, sizeof(c));
	c.algorithm = "AES"; /* the naming facts only; the algorithm is the backend key's */
	c.engine_id = OPT(a, v, "engine-id");
	c.name = OPT(a, v, "name");
	c.description = OPT(a, v, "description");
	c.metadata = OPT(a, v, "metadata");
	c.tags = a->rep[0];
	c.ntags = a->nrep[0];
	c.expiration = OPT(a, v, "expiration-date");
	if (!blabel == !bidhex)
		return fail(2, "backend-label: give exactly one of --backend-label and --backend-id");
	if (blabel && (!*blabel || strlen(blabel) > 255))
		return fail(2, "backend-label: 1 to 255 bytes");
	if (bidhex && (kms_hex_decode(bidhex, &bid, &bidlen) != 0 || bidlen == 0 || bidlen > 64)) {
		free(bid);
		return fail(2, "backend-id: 1 to 64 bytes in hex");
	}
	if (kms_create_check(&c, &e) != KMS_OK) {
		free(bid);
		return say_err(&e);
	}
	if ((ret = token_open(v, a, c.engine_id, &l)) == 0) {
		ret = kms_key_adopt(&l, &c, blabel, bid, bidlen, &k, &e);
		ret = key_close(ret, &e, &k, &l, true);
	}
	free(bid);
	return ret;
}

static int run_import(const struct verb *v, struct args *a)
{
	struct kms_import in;
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	uint8_t *priv = NULL, *pub = NULL, *sec = NULL, *wrapped = NULL;
	size_t wrappedlen = 0;
	int ret;

	memset(&in, 0, sizeof(in));
	in.c.algorithm = OPT(a, v, "algorithm");
	in.c.engine_id = OPT(a, v, "engine-id");
	in.c.name = OPT(a, v, "name");
	in.c.description = OPT(a, v, "description");
	in.c.metadata = OPT(a, v, "metadata");
	in.c.tags = a->rep[0];
	in.c.ntags = a->nrep[0];
	in.c.extractable = OPT(a, v, "extractable") != NULL;
	in.c.expiration = OPT(a, v, "expiration-date");
	in.passphrase = OPT(a, v, "passphrase");
	if ((ret = b64_opt(v, a, "private-key", true, &priv, &in.private_key_len)) != 0 ||
	    (ret = b64_opt(v, a, "public-key", true, &pub, &in.public_key_len)) != 0 ||
	    (ret = b64_opt(v, a, "secret", true, &sec, &in.secret_len)) != 0 ||
	    (ret = b64_opt(v, a, "wrapped", true, &wrapped, &wrappedlen)) != 0)
		goto out;
	in.private_key = priv;
	in.public_key = pub;
	in.secret = sec;
	if (wrapped && (priv || pub || sec || in.passphrase)) {
		ret = fail(2, "wrapped: --wrapped comes alone (with --algorithm and the naming options)");
		goto out;
	}
	if (wrapped) {
		struct kms_create c = in.c;

		c.algorithm = "AES"; /* the naming facts only; the algorithm is checked with the key */
		if (!in.c.algorithm) {
			ret = fail(2, "algorithm: --wrapped needs --algorithm AES, HMAC, RSA, ECDSA or Ed25519");
			goto out;
		}
		if (kms_create_check(&c, &e) != KMS_OK) {
			ret = say_err(&e);
			goto out;
		}
	} else if (kms_import_check(&in, &e) != KMS_OK) {
		ret = say_err(&e);
		goto out;
	}
	if ((ret = token_open(v, a, in.c.engine_id, &l)) != 0)
		goto out;
	ret = wrapped ? kms_key_import_wrapped(&l, &in, wrapped, wrappedlen, &k, &e) : kms_key_import(&l, &in, &k, &e);
	ret = key_close(ret, &e, &k, &l, true);
out:
	free(wrapped);
	if (priv) {
		kms_wipe(priv, in.private_key_len);
		free(priv);
	}
	if (sec) {
		kms_wipe(sec, in.secret_len);
		free(sec);
	}
	free(pub);
	return ret;
}

static int run_get(const struct verb *v, struct args *a)
{
	struct kms_err e = {0};
	struct kms_key k;
	int ret = key_open(v, a, false, &k, NULL);

	return ret ? ret : key_close(KMS_OK, &e, &k, NULL, true);
}

static int run_delete(const struct verb *v, struct args *a)
{
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	json_t *before;
	int ret = key_open(v, a, true, &k, &l);

	if (ret)
		return ret;
	before = kms_key_json(&k);
	ret = kms_key_delete(&l, &k, &e);
	if (ret == KMS_OK)
		print_json(before);
	else
		json_decref(before);
	return key_close(ret, &e, &k, &l, false);
}

static int run_rename(const struct verb *v, struct args *a)
{
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	const char *name = OPT(a, v, "name");
	int ret;

	if (!name || !*name || strlen(name) > 255)
		return fail(2, "name: --name of 1 to 255 bytes is needed");
	ret = key_open(v, a, true, &k, &l);
	if (ret)
		return ret;
	ret = kms_key_rename(&l, &k, name, &e);
	return key_close(ret, &e, &k, &l, true);
}

static int run_tags(const struct verb *v, struct args *a)
{
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	uint8_t *enc = NULL;
	size_t enclen;
	int ret;

	if (!a->nrep[0] && !OPT(a, v, "clear"))
		return fail(2, "tags: give --tag T (repeatable) or --clear");
	if (a->nrep[0] && OPT(a, v, "clear"))
		return fail(2, "tags: --tag and --clear exclude each other");
	if (kms_list_encode("tags", a->rep[0], a->nrep[0], &enc, &enclen, &e) != KMS_OK)
		return say_err(&e);
	free(enc);
	ret = key_open(v, a, true, &k, &l);
	if (ret)
		return ret;
	ret = kms_key_set_tags(&l, &k, a->rep[0], a->nrep[0], &e);
	return key_close(ret, &e, &k, &l, true);
}

static int run_patch(const struct verb *v, struct args *a)
{
	const char *patch = OPT(a, v, "patch");
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	int ret;

	if (!patch)
		return fail(2, "patch: --patch JSON is needed");
	if (kms_json_patch_check(patch, "patch", &e) != KMS_OK)
		return say_err(&e);
	ret = key_open(v, a, true, &k, &l);
	if (ret)
		return ret;
	ret = !strcmp(v->name, "aliases") ? kms_key_patch_aliases(&l, &k, patch, &e) : kms_key_patch_metadata(&l, &k, patch, &e);
	return key_close(ret, &e, &k, &l, true);
}

static const struct opt o_rotate[] = {
	{"key-material", "B64", "the new version's material (secret keys imported with theirs)"},
	OPT_ENGINE_LOOK,
	OPT_USER_PIN,
	OPT_END,
};
static const struct opt o_rotation[] = {
	{"period-days", "N", "rotate automatically every N days (kms11 maintain does it)"},
	{"off", NULL, "no automatic rotation"},
	OPT_ENGINE_LOOK,
	OPT_USER_PIN,
	OPT_END,
};

static int run_rotate(const struct verb *v, struct args *a)
{
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	uint8_t *mat = NULL;
	size_t matlen = 0;
	int ret;

	if ((ret = b64_opt(v, a, "key-material", true, &mat, &matlen)) != 0)
		return ret;
	ret = key_open(v, a, true, &k, &l);
	if (ret == 0) {
		ret = kms_key_rotate(&l, &k, mat, matlen, &e);
		ret = key_close(ret, &e, &k, &l, true);
	}
	if (mat) {
		kms_wipe(mat, matlen);
		free(mat);
	}
	return ret;
}

static int run_rotation(const struct verb *v, struct args *a)
{
	unsigned long days = 0;
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	int ret;

	if (!OPT(a, v, "period-days") == !OPT(a, v, "off"))
		return fail(2, "period_days: give --period-days N or --off");
	if (OPT(a, v, "period-days") && !parse_num(OPT(a, v, "period-days"), 1, 36500, &days))
		return fail(2, "period_days: '%s' is not a number of days from 1 to 36500", OPT(a, v, "period-days"));
	ret = key_open(v, a, true, &k, &l);
	if (ret)
		return ret;
	ret = kms_key_rotation(&l, &k, (unsigned)days, &e);
	return key_close(ret, &e, &k, &l, true);
}

static int run_life(const struct verb *v, struct args *a)
{
	static const struct {
		const char *verb;
		enum kms_life life;
	} map[] = {{"enable", KMS_LIFE_ENABLE},
		   {"disable", KMS_LIFE_DISABLE},
		   {"schedule-deletion", KMS_LIFE_SCHEDULE_DELETION},
		   {"cancel-deletion", KMS_LIFE_CANCEL_DELETION}};
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	enum kms_life what = KMS_LIFE_ENABLE;
	unsigned long days = 30;
	int ret;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(v->name, map[i].verb))
			what = map[i].life;
	if (what == KMS_LIFE_SCHEDULE_DELETION && OPT(a, v, "days") && !parse_num(OPT(a, v, "days"), 7, 30, &days))
		return fail(2, "days: '%s' is not a number from 7 to 30", OPT(a, v, "days"));
	ret = key_open(v, a, true, &k, &l);
	if (ret)
		return ret;
	ret = kms_key_life(&l, &k, what, (unsigned)days, &e);
	return key_close(ret, &e, &k, &l, true);
}

static const struct opt o_maintain[] = {
	{"engine-id", "TOKEN", "this token only (default: every token)"},
	{"pin", "PIN", "the user PIN of the tokens (else KMS11_PIN, else a prompt)"},
	OPT_END,
};

/* kms11 maintain: what is due (scheduled deletions). Exit 0 when everything due was done, 5 when a token
 * refused the PIN, 1 for another failure; the JSON says what was done either way. */
static int run_maintain(const struct verb *v, struct args *a)
{
	struct kms_err e = {0};
	json_t *out = NULL;
	char *pin;
	int ret;

	pin = get_pin(OPT(a, v, "pin"), "KMS11_PIN", "User PIN");
	if (!pin)
		return fail(2, "pin: a user PIN is needed (--pin, KMS11_PIN or a terminal)");
	if (kms_mgr_start(&e) != KMS_OK) {
		free_secret(pin);
		return say_err(&e);
	}
	ret = kms_maintain(OPT(a, v, "engine-id"), pin, &out, &e);
	free_secret(pin);
	kms_mgr_stop();
	if (!out)
		return say_err(&e);
	if (ret == KMS_OK && json_array_size(json_object_get(out, "errors")))
		ret = KMS_E_INTERNAL;
	print_json(out);
	return ret;
}

/* ---- crypto verbs ---- */

static const struct opt o_sign[] = {
	{"message", "B64", "the message (or digest), base64"},
	{"algorithm", "A", "RSASSA_PKCS1_V1_5_SHA_256|384|512, RSASSA_PSS_SHA_256|384|512, ECDSA_SHA_256|384|512, ED25519"},
	{"message-type", "T", "raw (default) or hash (the message is the digest)"},
	{"signature", "B64", "verify: the signature, base64 (ECDSA in DER)"},
	OPT_ENGINE_LOOK,
	OPT_USER_PIN,
	OPT_END,
};
static const struct opt o_encrypt[] = {
	{"plaintext", "B64", "encrypt: the plaintext, base64"},
	{"ciphertext", "C", "decrypt: a ciphertext of kms11 key encrypt"},
	{"aad", "B64", "additional authenticated data, base64 (the OAEP label for RSA)"},
	OPT_ENGINE_LOOK,
	OPT_USER_PIN,
	OPT_END,
};
static const struct opt o_hmac[] = {
	{"message", "B64", "the message, base64"},
	{"mac", "B64", "verify-hmac: the MAC, base64"},
	OPT_ENGINE_LOOK,
	OPT_USER_PIN,
	OPT_END,
};
static const struct opt o_data_key[] = {
	{"bits", "N", "128, 192, 256 (default) or 512"},
	OPT_ENGINE_LOOK,
	OPT_USER_PIN,
	OPT_END,
};
static const struct opt o_pubkey[] = {
	{"version", "N", "the key version (default: the primary)"},
	OPT_ENGINE_LOOK,
	OPT_END,
};

static int run_sign(const struct verb *v, struct args *a)
{
	const char *type = OPT(a, v, "message-type"), *alg = OPT(a, v, "algorithm");
	bool verify = !strcmp(v->name, "verify"), hash = type && !strcmp(type, "hash"), valid = false;
	uint8_t *msg = NULL, *sig = NULL, *out = NULL;
	size_t len = 0, siglen = 0, outlen = 0;
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	int ret;

	if (type && strcmp(type, "raw") && strcmp(type, "hash"))
		return fail(2, "message_type: '%s' is not raw or hash", type);
	if (!verify && OPT(a, v, "signature"))
		return fail(2, "signature: only key verify takes --signature");
	if ((ret = b64_opt(v, a, "message", false, &msg, &len)) != 0)
		return ret;
	if (verify && (ret = b64_opt(v, a, "signature", false, &sig, &siglen)) != 0)
		goto out;
	if (kms_sign_check(alg, hash, len, &e) != KMS_OK) {
		ret = say_err(&e);
		goto out;
	}
	ret = key_open(v, a, true, &k, &l);
	if (ret)
		goto out;
	ret = verify ? kms_key_verify(&l, &k, alg, hash, msg, len, sig, siglen, &valid, &e)
		     : kms_key_sign(&l, &k, alg, hash, msg, len, &out, &outlen, &e);
	if (ret == KMS_OK)
		print_json(verify ? json_pack("{s:b}", "valid", valid) : json_pack("{s:o}", "signature", b64_json(out, outlen)));
	ret = key_close(ret, &e, &k, &l, false);
out:
	free(msg);
	free(sig);
	free(out);
	return ret;
}

static int run_encrypt(const struct verb *v, struct args *a)
{
	bool dec = !strcmp(v->name, "decrypt");
	uint8_t *pt = NULL, *aad = NULL;
	size_t ptlen = 0, aadlen = 0;
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	char *ct = NULL;
	int ret;

	if (dec ? OPT(a, v, "plaintext") != NULL : OPT(a, v, "ciphertext") != NULL)
		return fail(2, "%s: key %s takes --%s", dec ? "plaintext" : "ciphertext", v->name,
			    dec ? "ciphertext" : "plaintext");
	if (dec && !OPT(a, v, "ciphertext"))
		return fail(2, "ciphertext: --ciphertext is needed");
	if (!dec && (ret = b64_opt(v, a, "plaintext", false, &pt, &ptlen)) != 0)
		return ret;
	if ((ret = b64_opt(v, a, "aad", true, &aad, &aadlen)) != 0)
		goto out;
	ret = key_open(v, a, true, &k, &l);
	if (ret)
		goto out;
	if (dec) {
		ret = kms_key_decrypt(&l, &k, OPT(a, v, "ciphertext"), aad, aadlen, &pt, &ptlen, &e);
		if (ret == KMS_OK)
			print_json(json_pack("{s:o}", "plaintext", b64_json(pt, ptlen)));
	} else {
		ret = kms_key_encrypt(&l, &k, pt, ptlen, aad, aadlen, &ct, &e);
		if (ret == KMS_OK)
			print_json(json_pack("{s:s}", "ciphertext", ct));
	}
	ret = key_close(ret, &e, &k, &l, false);
out:
	if (pt) {
		kms_wipe(pt, ptlen);
		dec ? kms_secure_free(pt) : free(pt);
	}
	free(aad);
	free(ct);
	return ret;
}

static int run_hmac(const struct verb *v, struct args *a)
{
	bool verify = !strcmp(v->name, "verify-hmac");
	uint8_t *msg = NULL, *want = NULL, *mac = NULL;
	size_t len = 0, wantlen = 0, maclen = 0;
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	int ret;

	if (!verify && OPT(a, v, "mac"))
		return fail(2, "mac: only key verify-hmac takes --mac");
	if ((ret = b64_opt(v, a, "message", false, &msg, &len)) != 0)
		return ret;
	if (verify && (ret = b64_opt(v, a, "mac", false, &want, &wantlen)) != 0)
		goto out;
	ret = key_open(v, a, true, &k, &l);
	if (ret)
		goto out;
	ret = kms_key_hmac(&l, &k, msg, len, &mac, &maclen, &e);
	if (ret == KMS_OK && verify)
		print_json(json_pack("{s:b}", "valid", maclen == wantlen && CRYPTO_memcmp(mac, want, maclen) == 0));
	else if (ret == KMS_OK)
		print_json(json_pack("{s:o}", "mac", b64_json(mac, maclen)));
	ret = key_close(ret, &e, &k, &l, false);
out:
	free(msg);
	free(want);
	kms_secure_free(mac);
	return ret;
}

static int run_data_key(const struct verb *v, struct args *a)
{
	unsigned long bits = 256;
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	uint8_t *dk = NULL;
	size_t dklen = 0;
	char *ct = NULL;
	int ret;

	if (OPT(a, v, "bits") && (!parse_num(OPT(a, v, "bits"), 128, 512, &bits) ||
				  (bits != 128 && bits != 192 && bits != 256 && bits != 512)))
		return fail(2, "bits: '%s' is not 128, 192, 256 or 512", OPT(a, v, "bits"));
	ret = key_open(v, a, true, &k, &l);
	if (ret)
		return ret;
	ret = kms_key_data_key(&l, &k, (unsigned)bits, &dk, &dklen, &ct, &e);
	if (ret == KMS_OK)
		print_json(json_pack("{s:o,s:s}", "plaintext", b64_json(dk, dklen), "ciphertext", ct));
	kms_secure_free(dk);
	free(ct);
	return key_close(ret, &e, &k, &l, false);
}

static const struct opt o_wrap[] = {
	{"aad", "S", "an additional authenticated data string (repeat, up to 126, each at most 255 bytes)"},
	{"plaintext", "B64", "wrap: the data key, base64 (default: a new 32-byte key, returned too)"},
	{"ciphertext", "C", "unwrap, rewrap: a wrapped data key"},
	OPT_ENGINE_LOOK,
	OPT_USER_PIN,
	OPT_END,
};

/* IBM Key Protect's wrap, unwrap and rewrap with a root key. */
static int run_wrap(const struct verb *v, struct args *a)
{
	bool wrap = !strcmp(v->name, "wrap"), rewrap = !strcmp(v->name, "rewrap");
	const char *ct_in = OPT(a, v, "ciphertext");
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	uint8_t *given = NULL, *dk = NULL;
	size_t givenlen = 0, dklen = 0;
	unsigned long version = 0;
	char *ct = NULL;
	bool made;
	int ret;

	if (wrap ? ct_in != NULL : OPT(a, v, "plaintext") != NULL)
		return fail(2, "%s: key %s takes --%s", wrap ? "ciphertext" : "plaintext", v->name,
			    wrap ? "plaintext (or nothing)" : "ciphertext");
	if (!wrap && !ct_in)
		return fail(2, "ciphertext: --ciphertext is needed");
	if (kms_aad_check(a->rep[0], a->nrep[0], &e) != KMS_OK)
		return say_err(&e);
	if (wrap && (ret = b64_opt(v, a, "plaintext", true, &given, &givenlen)) != 0)
		return ret;
	ret = key_open(v, a, true, &k, &l);
	if (ret)
		goto out;
	if (wrap) {
		made = given == NULL;
		if (given) {
			dk = kms_secure_dup(given, givenlen);
			dklen = givenlen;
		}
		ret = dk || made ? kms_key_wrap(&l, &k, &dk, &dklen, a->rep[0], a->nrep[0], &ct, &version, &e)
				 : kms_fail(&e, KMS_E_INTERNAL, "out of memory");
		if (ret == KMS_OK) {
			json_t *o = json_pack("{s:s,s:I}", "ciphertext", ct, "key_version", (json_int_t)version);

			if (made)
				json_object_set_new(o, "plaintext", b64_json(dk, dklen));
			print_json(o);
		}
	} else if (rewrap) {
		ret = kms_key_rewrap(&l, &k, ct_in, a->rep[0], a->nrep[0], &ct, &version, &e);
		if (ret == KMS_OK)
			print_json(json_pack("{s:s,s:I}", "ciphertext", ct, "key_version", (json_int_t)version));
	} else {
		ret = kms_key_unwrap(&l, &k, ct_in, a->rep[0], a->nrep[0], &dk, &dklen, &version, &e);
		if (ret == KMS_OK)
			print_json(json_pack("{s:o,s:I}", "plaintext", b64_json(dk, dklen), "key_version", (json_int_t)version));
	}
	ret = key_close(ret, &e, &k, &l, false);
out:
	if (given) {
		kms_wipe(given, givenlen);
		free(given);
	}
	kms_secure_free(dk);
	free(ct);
	return ret;
}

static const struct opt o_export[] = {
	{"wrapping-key", "B64", "base64 of the receiver's RSA public key (PEM or DER): CKM_RSA_AES_KEY_WRAP under it"},
	{"plaintext", NULL, "the key itself: a secret key's bytes, a private key's PKCS#8 DER"},
	OPT_ENGINE_LOOK,
	OPT_USER_PIN,
	OPT_END,
};

static int run_export(const struct verb *v, struct args *a)
{
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	uint8_t *wpub = NULL, *out = NULL;
	size_t wlen = 0, outlen = 0;
	int ret;

	if (!OPT(a, v, "wrapping-key") == !OPT(a, v, "plaintext"))
		return fail(2, "export: give --wrapping-key B64 or --plaintext");
	if ((ret = b64_opt(v, a, "wrapping-key", true, &wpub, &wlen)) != 0)
		return ret;
	ret = key_open(v, a, true, &k, &l);
	if (ret == 0) {
		ret = kms_key_export(&l, &k, wpub, wlen, &out, &outlen, &e);
		if (ret == KMS_OK)
			print_json(json_pack("{s:o}", "key_material", b64_json(out, outlen)));
		ret = key_close(ret, &e, &k, &l, false);
	}
	kms_secure_free(out);
	free(wpub);
	return ret;
}

static const struct opt o_wrapping_key[] = {
	{"engine-id", "TOKEN", "the token (default: the first)"},
	{"pin", "PIN", "the user PIN (else KMS11_PIN, else a prompt): the first call makes the key"},
	OPT_END,
};

static int run_wrapping_key(const struct verb *v, struct args *a)
{
	struct kms_err e = {0};
	struct kms_login l;
	struct kms_key k;
	char *pem = NULL;
	unsigned long ver = 0;
	int ret;

	if ((ret = token_open(v, a, OPT(a, v, "engine-id"), &l)) != 0)
		return ret;
	ret = kms_wrapping_key(&l, &k, &e);
	if (ret == KMS_OK)
		ret = kms_key_public_pem(&k, 0, &pem, &ver, &e);
	if (ret == KMS_OK)
		print_json(json_pack("{s:s,s:s,s:s}", "public_key", pem, "algorithm", "RSA_AES_KEY_WRAP_SHA_256", "key_id", k.kid));
	free(pem);
	return key_close(ret, &e, &k, &l, false);
}

static int run_public_key(const struct verb *v, struct args *a)
{
	unsigned long version = 0, got = 0;
	struct kms_err e = {0};
	struct kms_key k;
	char *pem = NULL;
	int ret;

	if (OPT(a, v, "version") && !parse_num(OPT(a, v, "version"), 1, ULONG_MAX, &version))
		return fail(2, "version: '%s' is not a version number", OPT(a, v, "version"));
	ret = key_open(v, a, false, &k, NULL);
	if (ret)
		return ret;
	ret = kms_key_public_pem(&k, version, &pem, &got, &e);
	if (ret == KMS_OK)
		print_json(json_pack("{s:s,s:I}", "public_key", pem, "version", (json_int_t)got));
	free(pem);
	return key_close(ret, &e, &k, NULL, false);
}

/* ---- token verbs ---- */

static const struct opt o_token_init[] = {
	{"label", "LABEL", "the token's new label (1 to 32 bytes)"},
	{"engine-id", "TOKEN", "the token to initialise (default: the first)"},
	{"so-pin", "PIN", "the new SO PIN (else KMS11_SO_PIN, else a prompt)"},
	{"pin", "PIN", "the new user PIN (else KMS11_PIN, else a prompt)"},
	{"force", NULL, "initialise a token that is initialised already: destroys every key it holds"},
	OPT_END,
};
static const struct opt o_none[] = {{NULL, NULL, NULL}};

static int run_token_init(const struct verb *v, struct args *a)
{
	const char *label = OPT(a, v, "label");
	struct kms_err e = {0};
	struct kms_token *tok;
	CK_TOKEN_INFO ti;
	char *so = NULL, *pin = NULL;
	int ret = 0;
	CK_RV rv;

	if (!label || !*label || strlen(label) > 32)
		return fail(2, "label: --label of 1 to 32 bytes is needed");
	so = get_pin(OPT(a, v, "so-pin"), "KMS11_SO_PIN", "New SO PIN");
	pin = so ? get_pin(OPT(a, v, "pin"), "KMS11_PIN", "New user PIN") : NULL;
	if (!so || !pin) {
		ret = fail(2, "%s: a PIN is needed (--%s, %s or a terminal)", so ? "pin" : "so-pin", so ? "pin" : "so-pin",
			   so ? "KMS11_PIN" : "KMS11_SO_PIN");
		goto out;
	}
	if (strlen(so) < KMS_MIN_PIN || strlen(so) > KMS_MAX_PIN || strlen(pin) < KMS_MIN_PIN ||
	    strlen(pin) > KMS_MAX_PIN) {
		ret = fail(2, "%s: a PIN has %d to %d bytes", strlen(so) < KMS_MIN_PIN || strlen(so) > KMS_MAX_PIN ? "so-pin" : "pin",
			   KMS_MIN_PIN, KMS_MAX_PIN);
		goto out;
	}
	if (kms_mgr_start(&e) != KMS_OK) {
		ret = say_err(&e);
		goto out;
	}
	if (kms_mgr_token(OPT(a, v, "engine-id"), &tok, &e) != KMS_OK) {
		ret = say_err(&e);
		goto stop;
	}
	rv = kms_token_info(tok, &ti);
	if (rv == CKR_OK && (ti.flags & CKF_TOKEN_INITIALIZED) && !OPT(a, v, "force")) {
		ret = fail(4, "the token is initialised already; --force initialises it again and destroys its keys");
		goto stop;
	}
	/* One store transaction writes the token with both PINs: a failure leaves the token as it was. */
	rv = kms_token_init(tok, so, strlen(so), label, pin, strlen(pin));
	if (rv != CKR_OK) {
		ret = fail(rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED ? 5 : rv == CKR_SESSION_EXISTS ? 4 : 1,
			   "token init: %s", rv == CKR_PIN_INCORRECT ? "wrong SO PIN"
					     : rv == CKR_PIN_LOCKED	 ? "the SO PIN is locked"
					     : rv == CKR_SESSION_EXISTS ? "another process has a session on the token"
									  : "the module refused (see its log)");
		goto stop;
	}
	print_json(json_pack("{s:s,s:I,s:b}", "token", label, "slot", (json_int_t)tok->slot, "initialized", 1));
stop:
	kms_mgr_stop();
out:
	free_secret(so);
	free_secret(pin);
	return ret;
}

/* token list, token info, engine list and summary: reads of the tokens, no PIN. */
static int run_tokens(const struct verb *v, struct args *a)
{
	struct kms_err e = {0};
	json_t *out = NULL;
	int ret;

	if (kms_mgr_start(&e) != KMS_OK)
		return say_err(&e);
	if (!strcmp(v->group, "summary"))
		ret = kms_summary(&out, &e);
	else if (!strcmp(v->name, "info"))
		ret = kms_token_show(OPT(a, v, "engine-id"), &out, &e);
	else if (!strcmp(v->group, "token"))
		ret = kms_tokens(&out, &e);
	else
		ret = kms_engines(&out, &e);
	kms_mgr_stop();
	return ret == KMS_OK ? print_json(out) : say_err(&e);
}

static const struct opt o_token_one[] = {
	{"engine-id", "TOKEN", "the token (default: the first)"},
	OPT_END,
};
static const struct opt o_set_pin[] = {
	{"engine-id", "TOKEN", "the token (default: the first)"},
	{"pin", "PIN", "the current user PIN (else KMS11_PIN, else a prompt)"},
	{"new-pin", "PIN", "the new user PIN (else KMS11_NEW_PIN, else a prompt)"},
	OPT_END,
};
static const struct opt o_unlock[] = {
	{"engine-id", "TOKEN", "the token (default: the first)"},
	{"so-pin", "PIN", "the SO PIN (else KMS11_SO_PIN, else a prompt)"},
	{"new-pin", "PIN", "the new user PIN (else KMS11_NEW_PIN, else a prompt)"},
	OPT_END,
};

/* token set-pin (the user changes the user PIN) and token unlock (the SO sets a new user PIN). */
static int run_token_pin(const struct verb *v, struct args *a)
{
	bool unlock = !strcmp(v->name, "unlock");
	struct kms_err e = {0};
	char *pin, *new_pin = NULL;
	int ret;

	pin = unlock ? get_pin(OPT(a, v, "so-pin"), "KMS11_SO_PIN", "SO PIN") : get_pin(OPT(a, v, "pin"), "KMS11_PIN", "User PIN");
	if (pin)
		new_pin = get_pin(OPT(a, v, "new-pin"), "KMS11_NEW_PIN", "New user PIN");
	if (!pin || !new_pin) {
		ret = fail(2, "%s: a PIN is needed (its option, its environment variable or a terminal)",
			   !pin ? (unlock ? "so_pin" : "pin") : "new_pin");
		goto out;
	}
	if (strlen(new_pin) < KMS_MIN_PIN || strlen(new_pin) > KMS_MAX_PIN) {
		ret = fail(2, "new_pin: a PIN has %d to %d bytes", KMS_MIN_PIN, KMS_MAX_PIN);
		goto out;
	}
	if (kms_mgr_start(&e) != KMS_OK) {
		ret = say_err(&e);
		goto out;
	}
	ret = kms_token_pin(OPT(a, v, "engine-id"), unlock, pin, new_pin, &e);
	kms_mgr_stop();
	ret = ret == KMS_OK ? print_json(json_pack("{s:s}", unlock ? "unlocked" : "pin_changed",
						   OPT(a, v, "engine-id") ? OPT(a, v, "engine-id") : "default"))
			    : say_err(&e);
out:
	free_secret(pin);
	free_secret(new_pin);
	return ret;
}

/* ---- store check ---- */

static const struct opt o_store[] = {
	{"store", "DIR", "the store directory (default: the configured one)"},
	OPT_END,
};

/* kms11 store check: verifies the store offline, in a child process, since LMDB may fault on a damaged
 * page. Exit status 0 when the store is sound, 1 when it is damaged or cannot be read. */
static int run_store_check(const struct verb *v, struct args *a)
{
	struct kms_store_report r;
	struct kms_conf conf;
	char err[512];
	const char *dir = OPT(a, v, "store");
	json_t *out, *list;
	int fds[2], st = 0;
	ssize_t got = 0, n;
	pid_t pid;

	if (!dir) {
		if (kms_conf_load(&conf, err, sizeof(err)) != 0)
			return fail(1, "configuration: %s", err);
		dir = conf.store_dir;
	}
	if (pipe(fds) != 0)
		return fail(1, "pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return fail(1, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		kms_store_verify(dir, &r);
		for (size_t off = 0; off < sizeof(r); off += (size_t)n)
			if ((n = write(fds[1], (char *)&r + off, sizeof(r) - off)) <= 0)
				_exit(1);
		_exit(0);
	}
	close(fds[1]);
	memset(&r, 0, sizeof(r));
	while ((size_t)got < sizeof(r) && (n = read(fds[0], (char *)&r + got, sizeof(r) - (size_t)got)) > 0)
		got += n;
	close(fds[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st) || (size_t)got != sizeof(r)) {
		memset(&r, 0, sizeof(r));
		snprintf(r.problems[0], sizeof(r.problems[0]), "reading the store faulted (signal %d): pages are damaged",
			 WIFSIGNALED(st) ? WTERMSIG(st) : 0);
		r.n_problems = 1;
	}
	out = json_pack("{s:s, s:b, s:I, s:I}", "store", dir, "ok", r.n_problems == 0, "objects", (json_int_t)r.objects,
			"index_entries", (json_int_t)r.index_entries);
	list = json_array();
	for (uint64_t i = 0; i < r.n_problems && i < KMS_STORE_REPORT_MAX; i++)
		json_array_append_new(list, json_string(r.problems[i]));
	json_object_set_new(out, "problems", list);
	if (r.n_problems) {
		snprintf(err, sizeof(err), "store %s is damaged: %s", dir, r.problems[0]);
		json_object_set_new(out, "err", json_string(err));
	}
	print_json(out);
	if (!OPT(a, v, "store"))
		kms_conf_free(&conf);
	return r.n_problems ? 1 : 0;
}

static const struct verb verbs[] = {
	{"key", "create", NULL, "makes a key; prints it", o_create, true, run_create},
	{"key", "import", NULL, "imports a private, public or secret key; prints it", o_import, true, run_import},
	{"key", "adopt", NULL, "makes a kms11 key of a key its HSM holds already (pkcs11 engine); prints it", o_adopt,
	 true, run_adopt},
	{"key", "list", NULL, "lists keys, filtered and sorted, a page at a time", o_list, true, run_query},
	{"key", "count", NULL, "counts the keys a filter selects: {\"count\": N}", o_count, true, run_query},
	{"key", "stats", NULL, "key counts by engine, algorithm and state (filters apply)", o_count, true, run_query},
	{"key", "get", "KEY", "prints one key (KEY: key id, name, alias or pkcs11: URI)", o_read, false, run_get},
	{"key", "delete", "KEY", "deletes a key at once, irreversibly; prints what it was", o_change, false,
	 run_delete},
	{"key", "rename", "KEY", "gives the key a new name", o_rename, false, run_rename},
	{"key", "tags", "KEY", "replaces the key's tags", o_tags, true, run_tags},
	{"key", "aliases", "KEY", "changes the key's aliases by a JSON Patch (paths like /- or /0)", o_patch, false,
	 run_patch},
	{"key", "metadata", "KEY", "changes the key's metadata by a JSON Patch (paths like /owner)", o_patch, false,
	 run_patch},
	{"key", "sign", "KEY", "signs a message or digest: {\"signature\"}", o_sign, false, run_sign},
	{"key", "verify", "KEY", "verifies a signature: {\"valid\"}", o_sign, false, run_sign},
	{"key", "encrypt", "KEY", "AES-256-GCM (secret key) or RSA-OAEP-SHA-256: {\"ciphertext\"}", o_encrypt, false,
	 run_encrypt},
	{"key", "decrypt", "KEY", "decrypts a ciphertext of key encrypt: {\"plaintext\"}", o_encrypt, false, run_encrypt},
	{"key", "hmac", "KEY", "HMAC of a message: {\"mac\"}", o_hmac, false, run_hmac},
	{"key", "verify-hmac", "KEY", "checks an HMAC: {\"valid\"}", o_hmac, false, run_hmac},
	{"key", "data-key", "KEY", "a fresh data key, plain and encrypted under KEY", o_data_key, false, run_data_key},
	{"key", "public-key", "KEY", "the public key (PEM, base64): {\"public_key\", \"version\"}", o_pubkey, false,
	 run_public_key},
	{"key", "wrap", "KEY", "wraps a data key under an AES root key: {\"ciphertext\", \"key_version\"}", o_wrap, true,
	 run_wrap},
	{"key", "unwrap", "KEY", "unwraps a data key: {\"plaintext\", \"key_version\"}", o_wrap, true, run_wrap},
	{"key", "rewrap", "KEY", "wraps a data key again under the primary version", o_wrap, true, run_wrap},
	{"key", "export", "KEY", "an extractable key, wrapped for a receiver or in plaintext: {\"key_material\"}", o_export,
	 false, run_export},
	{"key", "rotate", "KEY", "makes a new primary version; older ones still verify, decrypt and unwrap", o_rotate,
	 false, run_rotate},
	{"key", "rotation", "KEY", "sets automatic rotation (--period-days N) or turns it off", o_rotation, false,
	 run_rotation},
	{"key", "enable", "KEY", "lets the key be used again", o_change, false, run_life},
	{"key", "disable", "KEY", "refuses every use of the key, for every application", o_change, false, run_life},
	{"key", "schedule-deletion", "KEY", "refuses every use and deletes the key after --days (kms11 maintain)",
	 o_schedule, false, run_life},
	{"key", "cancel-deletion", "KEY", "cancels a scheduled deletion; the key stays disabled", o_change, false,
	 run_life},
	{"wrapping-key", "", NULL, "the token's RSA key for bringing keys in: {\"public_key\", \"algorithm\"}",
	 o_wrapping_key, false, run_wrapping_key},
	{"maintain", "", NULL, "deletes and rotates the keys whose deletion or rotation is due (run it daily)", o_maintain,
	 false,
	 run_maintain},
	{"token", "init", NULL, "initialises a token with its SO and user PINs", o_token_init, false, run_token_init},
	{"token", "list", NULL, "lists the tokens: slot, state, serial, PIN states", o_none, false, run_tokens},
	{"token", "info", NULL, "one token: its engine, state and PIN states", o_token_one, false, run_tokens},
	{"token", "set-pin", NULL, "changes the user PIN", o_set_pin, false, run_token_pin},
	{"token", "unlock", NULL, "the SO sets a new user PIN (unlocks a locked user)", o_unlock, false, run_token_pin},
	{"engine", "list", NULL, "the tokens as engines, with the key kinds they make", o_none, false, run_tokens},
	{"summary", "", NULL, "availability and key counts per engine", o_none, false, run_tokens},
	{"store", "check", NULL, "verifies the store offline (exit 1 when damaged)", o_store, false, run_store_check},
};
#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

static void usage(FILE *out, const char *group)
{
	fputs("usage: kms11 <group> <verb> [options]      (kms11 <group> <verb> --help for its options)\n", out);
	for (size_t i = 0; i < NVERBS; i++) {
		char cmd[40];

		if (group && strcmp(group, verbs[i].group))
			continue;
		snprintf(cmd, sizeof(cmd), "%-6s %s", verbs[i].group, verbs[i].name);
		fprintf(out, "  %-25s %-5s %s\n", *verbs[i].name ? cmd : verbs[i].group, verbs[i].pos ? verbs[i].pos : "",
			verbs[i].summary);
	}
	fputs("Output is JSON on stdout; errors are {\"err\": ...} on stderr.\n"
	      "Exit status: 0 done, 1 internal failure, 2 bad input, 3 not found, 4 conflict, 5 not permitted.\n"
	      "Environment: KMS11_CONF, KMS11_STORE, KMS11_PIN, KMS11_SO_PIN, KMS11_NEW_PIN, KMS11_DEBUG, KMS11_LOG.\n"
	      "See kms11(1), kms11.conf(5) and libkms11(8).\n",
	      out);
}

int main(int argc, char **argv)
{
	const struct verb *v = NULL;
	struct args a;
	bool help, group_known = false;
	int ret;

	if (argc < 2) {
		usage(stderr, NULL);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout, NULL);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("kms11 %s\n", KMS11_VERSION);
		return 0;
	}
	for (size_t i = 0; i < NVERBS; i++)
		if (!strcmp(verbs[i].group, argv[1]))
			group_known = true;
	if (!group_known)
		return fail(2, "unknown command '%s' (kms11 --help lists them)", argv[1]);
	/* A group that is a command by itself (kms11 maintain). */
	for (size_t i = 0; i < NVERBS; i++)
		if (!strcmp(verbs[i].group, argv[1]) && !*verbs[i].name) {
			v = &verbs[i];
			ret = parse(v, argc - 2, argv + 2, &a, &help);
			if (ret)
				return ret;
			if (help) {
				verb_help(v, stdout);
				return 0;
			}
			return v->run(v, &a);
		}
	if (argc < 3 || !strcmp(argv[2], "-h") || !strcmp(argv[2], "--help")) {
		usage(argc < 3 ? stderr : stdout, argv[1]);
		return argc < 3 ? 2 : 0;
	}
	for (size_t i = 0; i < NVERBS; i++)
		if (!strcmp(verbs[i].group, argv[1]) && !strcmp(verbs[i].name, argv[2]))
			v = &verbs[i];
	if (!v)
		return fail(2, "unknown command '%s %s' (kms11 %s --help lists them)", argv[1], argv[2], argv[1]);
	ret = parse(v, argc - 3, argv + 3, &a, &help);
	if (ret)
		return ret;
	if (help) {
		verb_help(v, stdout);
		return 0;
	}
	return v->run(v, &a);
}
