/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration: reads the KMS11_CONF INI file with inih (or builds the default) into struct kms_conf. */
#include "module/core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#ifndef KMS11_SYSCONF
#define KMS11_SYSCONF "/etc/kms11/kms11.conf"
#endif

#define KMS_CONF_LABEL_MAX 32 /* CK_TOKEN_INFO.label */
#define KMS_CONF_DEFAULT_TOKEN "kms11"
#define KMS_CONF_DEFAULT_ENGINE "openssl"
#define KMS_CONF_MAX_BYTES (1 << 20) /* a configuration file larger than this is refused */

enum kms_conf_section { KMS_SEC_NONE, KMS_SEC_GLOBAL, KMS_SEC_TOKEN, KMS_SEC_OTHER };

/* Parser state shared by the line reader and the inih handler. */
struct kms_conf_parse {
	struct kms_conf *c;
	FILE *f;
	const char *path;
	int line;                   /* physical line last handed to inih */
	int read_errno;             /* errno of a read error, 0 if none */
	long bytes;                 /* bytes read so far */
	enum kms_conf_section sec;
	size_t tok;                 /* current token index when sec is KMS_SEC_TOKEN */
	int *tok_lines;             /* line of each token's section header */
	size_t tok_cap;
	char *file_store;           /* store = from [kms11] */
	int err_line;               /* line of the first error, 0 if none */
	char err[256];
};

static void kms_conf_fail(struct kms_conf_parse *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first error only; later ones are usually consequences. */
static void kms_conf_fail(struct kms_conf_parse *p, int line, const char *fmt, ...)
{
	va_list ap;

	if (p->err_line != 0)
		return;
	p->err_line = line > 0 ? line : 1;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
}

static void kms_conf_errf(char *errbuf, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void kms_conf_errf(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

static void kms_conf_token_free(struct kms_conf_token *t)
{
	free(t->label);
	free(t->engine);
	for (size_t i = 0; i < t->n_settings; i++) {
		free((char *)t->settings[i].key);
		free((char *)t->settings[i].value);
	}
	free(t->settings);
}

void kms_conf_free(struct kms_conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_tokens; i++)
		kms_conf_token_free(&c->tokens[i]);
	free(c->tokens);
	free(c->store_dir);
	free(c->log_file);
	memset(c, 0, sizeof(*c));
	c->debug = -1;
}

static void kms_conf_init(struct kms_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->debug = -1;
}

/* Appends a token; returns its index, or -1 when out of memory. */
static long kms_conf_add_token(struct kms_conf *c, const char *label, size_t len)
{
	struct kms_conf_token *t;
	char *l;

	l = strndup(label, len);
	if (l == NULL)
		return -1;
	t = realloc(c->tokens, (c->n_tokens + 1) * sizeof(*t));
	if (t == NULL) {
		free(l);
		return -1;
	}
	c->tokens = t;
	memset(&t[c->n_tokens], 0, sizeof(*t));
	t[c->n_tokens].label = l;
	return (long)c->n_tokens++;
}

/*
 * The default store directory: KMS11_STORE, else $XDG_DATA_HOME/kms11 (when absolute),
 * else $HOME/.local/share/kms11 (HOME from the password database when unset).
 */
static char *kms_conf_default_store(void)
{
	const char *s = getenv("KMS11_STORE");
	const char *home;
	char *out = NULL;
	char pwbuf[1024];
	struct passwd pw, *pwp = NULL;

	if (s != NULL && s[0] != '\0')
		return strdup(s);
	s = getenv("XDG_DATA_HOME");
	if (s != NULL && s[0] == '/') {
		if (asprintf(&out, "%s/kms11", s) < 0)
			return NULL;
		return out;
	}
	home = getenv("HOME");
	if (home == NULL || home[0] == '\0') {
		if (getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &pwp) != 0 || pwp == NULL)
			return NULL;
		home = pw.pw_dir;
	}
	if (asprintf(&out, "%s/.local/share/kms11", home) < 0)
		return NULL;
	return out;
}

/*
 * Reads one physical line for inih and keeps the line count, so the handler
 * knows where it is. Section headers are noted here too: a token section with
 * no keys still exists (and then lacks an engine).
 */
static char *kms_conf_reader(char *str, int num, void *stream)
{
	struct kms_conf_parse *p = stream;
	int n = 0, ch = EOF;
	bool too_long = false, nul = false;

	if (num < 3)
		return NULL;
	errno = 0;
	while ((ch = getc(p->f)) != EOF) {
		/* The file may grow after it was checked: stop at the limit all the same. */
		if (++p->bytes > KMS_CONF_MAX_BYTES) {
			p->read_errno = EFBIG;
			return NULL;
		}
		if (ch == '\0') {
			nul = true;
			ch = ' ';
		}
		if (n < num - 2)
			str[n++] = (char)ch;
		else if (ch != '\n')
			too_long = true;
		if (ch == '\n')
			break;
	}
	if (ch == EOF && ferror(p->f))
		p->read_errno = errno != 0 ? errno : EIO;
	if (ch == EOF && n == 0)
		return NULL;
	if (n == 0 || str[n - 1] != '\n')
		str[n++] = '\n';
	str[n] = '\0';
	p->line++;
	if (nul)
		kms_conf_fail(p, p->line, "NUL byte in line");
	if (too_long)
		kms_conf_fail(p, p->line, "line too long (at most %d characters)", num - 2);

	/* A section header, as inih sees it: "[name]" after leading blanks. */
	const char *s = str + strspn(str, " \t\r");
	if (p->line == 1 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
	    (unsigned char)s[2] == 0xBF)
		s += 3; /* UTF-8 byte order mark */
	if (*s != '[')
		return str;
	const char *end = strchr(s + 1, ']');
	if (end == NULL)
		return str; /* inih reports the syntax error */
	const char *name = s + 1;
	size_t len = (size_t)(end - name);
	if (len == 5 && memcmp(name, "kms11", 5) == 0) {
		p->sec = KMS_SEC_GLOBAL;
	} else if (len >= 6 && memcmp(name, "token:", 6) == 0) {
		const char *label = name + 6;
		size_t llen = len - 6;
		long idx;
		p->sec = KMS_SEC_OTHER;
		if (llen == 0) {
			kms_conf_fail(p, p->line, "empty token label in [token:]");
			return str;
		}
		if (llen > KMS_CONF_LABEL_MAX) {
			kms_conf_fail(p, p->line, "token label '%.*s' is longer than %d bytes", (int)llen, label,
				      KMS_CONF_LABEL_MAX);
			return str;
		}
		for (size_t i = 0; i < p->c->n_tokens; i++) {
			if (strlen(p->c->tokens[i].label) == llen && memcmp(p->c->tokens[i].label, label, llen) == 0) {
				kms_conf_fail(p, p->line, "duplicate token label '%.*s' (first on line %d)", (int)llen,
					      label, p->tok_lines[i]);
				return str;
			}
		}
		if (p->c->n_tokens == p->tok_cap) {
			size_t cap = p->tok_cap ? p->tok_cap * 2 : 8;
			int *tl = realloc(p->tok_lines, cap * sizeof(*tl));
			if (tl == NULL) {
				kms_conf_fail(p, p->line, "out of memory");
				return str;
			}
			p->tok_lines = tl;
			p->tok_cap = cap;
		}
		idx = kms_conf_add_token(p->c, label, llen);
		if (idx < 0) {
			kms_conf_fail(p, p->line, "out of memory");
			return str;
		}
		p->tok_lines[idx] = p->line;
		p->tok = (size_t)idx;
		p->sec = KMS_SEC_TOKEN;
	} else {
		p->sec = KMS_SEC_OTHER;
		kms_conf_fail(p, p->line, "unknown section [%.*s] (expected [kms11] or [token:<label>])", (int)len,
			      name);
	}
	return str;
}

static int kms_conf_set_str(struct kms_conf_parse *p, char **dst, const char *value)
{
	char *v = strdup(value);

	if (v == NULL) {
		kms_conf_fail(p, p->line, "out of memory");
		return 0;
	}
	free(*dst);
	*dst = v;
	return 1;
}

static int kms_conf_global(struct kms_conf_parse *p, const char *name, const char *value)
{
	if (strcmp(name, "store") == 0) {
		if (value[0] == '\0') {
			kms_conf_fail(p, p->line, "empty store directory");
			return 0;
		}
		return kms_conf_set_str(p, &p->file_store, value);
	}
	if (strcmp(name, "log") == 0)
		return kms_conf_set_str(p, &p->c->log_file, value);
	if (strcmp(name, "debug") == 0) {
		if (value[0] < '0' || value[0] > '3' || value[1] != '\0') {
			kms_conf_fail(p, p->line, "debug must be 0, 1, 2 or 3, not '%s'", value);
			return 0;
		}
		p->c->debug = value[0] - '0';
		return 1;
	}
	kms_conf_fail(p, p->line, "unknown key '%s' in [kms11]", name);
	return 0;
}

static int kms_conf_token_key(struct kms_conf_parse *p, const char *name, const char *value)
{
	struct kms_conf_token *t = &p->c->tokens[p->tok];
	struct kms_engine_setting *s;
	char *k, *v;

	if (strcmp(name, "engine") == 0) {
		if (kms_engine_find(value) == NULL) {
			kms_conf_fail(p, p->line, "unknown engine '%s'", value);
			return 0;
		}
		return kms_conf_set_str(p, &t->engine, value);
	}
	k = strdup(name);
	v = strdup(value);
	s = realloc(t->settings, (t->n_settings + 1) * sizeof(*s));
	if (k == NULL || v == NULL || s == NULL) {
		free(k);
		free(v);
		if (s != NULL)
			t->settings = s;
		kms_conf_fail(p, p->line, "out of memory");
		return 0;
	}
	t->settings = s;
	s[t->n_settings].key = k;
	s[t->n_settings].value = v;
	t->n_settings++;
	return 1;
}

static int kms_conf_handler(void *user, const char *section, const char *name, const char *value)
{
	struct kms_conf_parse *p = user;

	if (value == NULL)
		value = "";
	switch (p->sec) {
	case KMS_SEC_NONE:
		kms_conf_fail(p, p->line, "key '%s' outside any section", name);
		return 0;
	case KMS_SEC_GLOBAL:
		return kms_conf_global(p, name, value);
	case KMS_SEC_TOKEN:
		return kms_conf_token_key(p, name, value);
	case KMS_SEC_OTHER:
	default:
		return 0; /* the section header already reported the problem */
	}
}

/* Opens a configuration file: only a regular file of at most KMS_CONF_MAX_BYTES (a device, a FIFO or
 * an endless file is refused before anything is read); NULL with the reason in errbuf. */
static FILE *kms_conf_open(const char *path, char *errbuf, size_t errlen)
{
	char ebuf[128];
	struct stat st;
	FILE *f;
	int fd;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == EACCES && stat(path, &st) == 0) {
		kms_conf_errf(errbuf, errlen, "cannot open %s: permission denied: this process (uid %u, gid %u) needs to "
			      "read it; it is mode %04o, owner uid %u, group gid %u", path, (unsigned)geteuid(),
			      (unsigned)getegid(), (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid);
		return NULL;
	}
	if (fd < 0) {
		kms_conf_errf(errbuf, errlen, "cannot open %s: %s", path, strerror_r(errno, ebuf, sizeof(ebuf)));
		return NULL;
	}
	if (fstat(fd, &st) != 0) {
		kms_conf_errf(errbuf, errlen, "cannot read %s: %s", path, strerror_r(errno, ebuf, sizeof(ebuf)));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		kms_conf_errf(errbuf, errlen, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if (st.st_size > KMS_CONF_MAX_BYTES) {
		kms_conf_errf(errbuf, errlen, "%s: larger than %d bytes", path, KMS_CONF_MAX_BYTES);
		close(fd);
		return NULL;
	}
	if (fcntl(fd, F_SETFL, 0) != 0 || (f = fdopen(fd, "r")) == NULL) {
		kms_conf_errf(errbuf, errlen, "cannot read %s: %s", path, strerror_r(errno, ebuf, sizeof(ebuf)));
		close(fd);
		return NULL;
	}
	return f;
}

int kms_conf_load_file(struct kms_conf *c, const char *path, char *errbuf, size_t errlen)
{
	struct kms_conf_parse p;
	char ebuf[128];
	int r, rc = -1;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (c == NULL || path == NULL) {
		kms_conf_errf(errbuf, errlen, "no configuration file given");
		return -1;
	}
	kms_conf_init(c);
	memset(&p, 0, sizeof(p));
	p.c = c;
	p.path = path;
	p.sec = KMS_SEC_NONE;
	p.f = kms_conf_open(path, errbuf, errlen);
	if (p.f == NULL)
		return -1;
	r = ini_parse_stream(kms_conf_reader, &p, kms_conf_handler, &p);
	if (p.read_errno != 0) {
		kms_conf_errf(errbuf, errlen, "cannot read %s: %s", path, strerror_r(p.read_errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	if (r == -2) {
		kms_conf_errf(errbuf, errlen, "%s: out of memory", path);
		goto out;
	}
	if (r > 0 && (p.err_line == 0 || r < p.err_line)) {
		kms_conf_errf(errbuf, errlen, "%s:%d: syntax error (expected [section] or key = value)", path, r);
		goto out;
	}
	if (p.err_line != 0) {
		kms_conf_errf(errbuf, errlen, "%s:%d: %s", path, p.err_line, p.err);
		goto out;
	}
	if (r != 0) {
		kms_conf_errf(errbuf, errlen, "%s: cannot parse", path);
		goto out;
	}
	if (c->n_tokens == 0) {
		kms_conf_errf(errbuf, errlen, "%s: no token section (add [token:<label>] with engine = openssl)", path);
		goto out;
	}
	for (size_t i = 0; i < c->n_tokens; i++) {
		if (c->tokens[i].engine == NULL) {
			kms_conf_errf(errbuf, errlen, "%s:%d: token '%s' has no engine", path, p.tok_lines[i],
				      c->tokens[i].label);
			goto out;
		}
	}
	/* KMS11_STORE wins over store = in the file, so one config can serve
	 * several stores (tests, containers); the file wins over the XDG default. */
	if (p.file_store != NULL && (getenv("KMS11_STORE") == NULL || getenv("KMS11_STORE")[0] == '\0')) {
		c->store_dir = p.file_store;
		p.file_store = NULL;
	} else {
		c->store_dir = kms_conf_default_store();
		if (c->store_dir == NULL) {
			kms_conf_errf(errbuf, errlen, "%s: no store directory (set KMS11_STORE or HOME)", path);
			goto out;
		}
	}
	rc = 0;
out:
	fclose(p.f);
	free(p.file_store);
	free(p.tok_lines);
	if (rc != 0)
		kms_conf_free(c);
	return rc;
}

int kms_conf_load(struct kms_conf *c, char *errbuf, size_t errlen)
{
	const char *path = getenv("KMS11_CONF");
	long idx;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (c == NULL)
		return -1;
	if (path != NULL && path[0] != '\0')
		return kms_conf_load_file(c, path, errbuf, errlen);
	/* Then the system configuration, when there is one (a daemon's tokens and shared store). */
	if (access(KMS11_SYSCONF, F_OK) == 0)
		return kms_conf_load_file(c, KMS11_SYSCONF, errbuf, errlen);
	kms_conf_init(c);
	c->store_dir = kms_conf_default_store();
	if (c->store_dir == NULL) {
		kms_conf_errf(errbuf, errlen, "no store directory (set KMS11_STORE or HOME)");
		goto fail;
	}
	idx = kms_conf_add_token(c, KMS_CONF_DEFAULT_TOKEN, strlen(KMS_CONF_DEFAULT_TOKEN));
	if (idx < 0)
		goto oom;
	c->tokens[idx].engine = strdup(KMS_CONF_DEFAULT_ENGINE);
	if (c->tokens[idx].engine == NULL)
		goto oom;
	return 0;
oom:
	kms_conf_errf(errbuf, errlen, "out of memory");
fail:
	kms_conf_free(c);
	return -1;
}
