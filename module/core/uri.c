/* SPDX-License-Identifier: Apache-2.0 */
/* pkcs11: URIs (RFC 7512): p11-kit's parser pulled into struct kms_uri, our own canonical formatter. */
#include "common/util.h"
#include "module/core/uri.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <p11-kit/uri.h>

#include "common/mem.h"

/* ---- parsing ---- */

/* Path attribute names p11-kit knows (RFC 7512 plus p11-kit's older "object-type"). */
static const char *const kms_uri_path_names[] = {
	"token", "manufacturer", "serial", "model", "library-manufacturer", "library-description",
	"library-version", "slot-description", "slot-manufacturer", "slot-id", "object", "id", "type",
	"object-type",
};

static bool kms_uri_known_name(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof(kms_uri_path_names) / sizeof(kms_uri_path_names[0]); i++)
		if (strlen(kms_uri_path_names[i]) == n && memcmp(kms_uri_path_names[i], name, n) == 0)
			return true;
	return false;
}

static bool kms_uri_vendor_name(const char *name, size_t n)
{
	return n > 2 && (name[0] == 'x' || name[0] == 'X') && name[1] == '-';
}

/* Duplicates n bytes as a NUL-terminated string into *out (replacing it); embedded NULs are refused (1). */
static int kms_uri_dup(const void *p, size_t n, char **out)
{
	char *s;

	if (memchr(p, '\0', n) != NULL)
		return 1;
	s = malloc(n + 1);
	if (s == NULL)
		return -1;
	memcpy(s, p, n);
	s[n] = '\0';
	free(*out);
	*out = s;
	return 0;
}

/* Fixed-width fields of the info structures, and where a longer value goes. */
static const struct {
	const char *name;
	size_t width;
	size_t off;
} kms_uri_wide[] = {
	{ "token", 32, offsetof(struct kms_uri, token) },
	{ "manufacturer", 32, offsetof(struct kms_uri, manufacturer) },
	{ "serial", 16, offsetof(struct kms_uri, serial) },
	{ "model", 16, offsetof(struct kms_uri, model) },
	{ "library-manufacturer", 32, offsetof(struct kms_uri, library_manufacturer) },
	{ "library-description", 32, offsetof(struct kms_uri, library_description) },
	{ "slot-description", 64, offsetof(struct kms_uri, slot_description) },
	{ "slot-manufacturer", 32, offsetof(struct kms_uri, slot_manufacturer) },
};

/* Percent-decodes v[0..n) into a malloc'd string, skipping whitespace as p11-kit does;
 * 0, -1 when out of memory, 1 on a bad escape. */
static int kms_uri_decode(const char *v, size_t n, char **out, size_t *outlen)
{
	char *d = malloc(n + 1);
	size_t k = 0;

	if (d == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strchr(" \t\r\n\v\f", v[i]) != NULL)
			continue;
		if (v[i] != '%') {
			d[k++] = v[i];
			continue;
		}
		int hi = i + 2 < n ? kms_hex_digit(v[i + 1]) : -1;
		int lo = i + 2 < n ? kms_hex_digit(v[i + 2]) : -1;
		if (hi < 0 || lo < 0) {
			free(d);
			return 1;
		}
		d[k++] = (char)(hi << 4 | lo);
		i += 2;
	}
	d[k] = '\0';
	*out = d;
	*outlen = k;
	return 0;
}

/*
 * p11-kit flags unknown path attributes, vendor ("x-") ones, values it cannot
 * hold (type=foo) and values longer than their fixed-width info field. The
 * last are valid RFC 7512 (they just match no token): we keep them in u
 * ourselves. Vendor path attributes are allowed and ignored. On CKR_OK, *again
 * holds the URI parsed without those attributes.
 */
static CK_RV kms_uri_check_unrecognized(const char *s, struct kms_uri *u, P11KitUri **again, const char **err)
{
	const char *path = strchr(s, ':');
	const char *end;
	char *stripped = NULL;
	size_t len = 0, cap = strlen(s) + 1;
	bool dropped = false;
	CK_RV rv = CKR_ARGUMENTS_BAD;

	*again = NULL;
	if (path == NULL)
		goto bad_value;
	path++;
	end = path + strcspn(path, "?");
	stripped = malloc(cap);
	if (stripped == NULL)
		goto oom;
	memcpy(stripped, s, (size_t)(path - s));
	len = (size_t)(path - s);
	for (const char *seg = path; seg < end;) {
		size_t seglen = strcspn(seg, ";?");
		size_t namelen = strcspn(seg, "=;?");
		bool keep = seglen > 0;
		if (namelen > seglen)
			namelen = seglen;
		if (kms_uri_vendor_name(seg, namelen)) {
			keep = false;
		} else if (seglen > 0 && !kms_uri_known_name(seg, namelen)) {
			*err = "unknown path attribute in pkcs11: URI";
			goto out;
		} else if (namelen < seglen) {
			for (size_t i = 0; i < sizeof(kms_uri_wide) / sizeof(kms_uri_wide[0]); i++) {
				if (strlen(kms_uri_wide[i].name) != namelen ||
				    memcmp(kms_uri_wide[i].name, seg, namelen) != 0)
					continue;
				size_t dlen;
				char *d = NULL;
				int dr = kms_uri_decode(seg + namelen + 1, seglen - namelen - 1, &d, &dlen);
				if (dr < 0)
					goto oom;
				if (dr > 0)
					goto bad_value;
				if (dlen > kms_uri_wide[i].width) {
					int r = kms_uri_dup(d, dlen, (char **)((char *)u + kms_uri_wide[i].off));
					free(d);
					if (r < 0)
						goto oom;
					if (r > 0) {
						*err = "NUL byte (%00) in a pkcs11: URI attribute";
						goto out;
					}
					keep = false;
				} else {
					free(d);
				}
			}
		}
		if (!keep && seglen > 0)
			dropped = true;
		if (keep) {
			if (len > (size_t)(path - s))
				stripped[len++] = ';';
			memcpy(stripped + len, seg, seglen);
			len += seglen;
		}
		seg += seglen;
		if (seg < end && *seg == ';')
			seg++;
	}
	strcpy(stripped + len, end);
	if (!dropped)
		goto bad_value;
	*again = p11_kit_uri_new();
	if (*again == NULL)
		goto oom;
	if (p11_kit_uri_parse(stripped, P11_KIT_URI_FOR_ANY, *again) == P11_KIT_URI_OK &&
	    !p11_kit_uri_any_unrecognized(*again)) {
		rv = CKR_OK;
		goto out;
	}
	goto bad_value;
oom:
	rv = CKR_HOST_MEMORY;
	*err = "out of memory";
	goto out;
bad_value:
	*err = "unsupported value in pkcs11: URI (type must be private, public, secret-key, cert or data)";
out:
	if (rv != CKR_OK && *again != NULL) {
		p11_kit_uri_free(*again);
		*again = NULL;
	}
	kms_free_wiped(stripped, cap);
	return rv;
}

/* Length of a fixed-width, space-padded field without its padding. */
static size_t kms_uri_trimmed(const CK_UTF8CHAR *f, size_t n)
{
	while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\0'))
		n--;
	return n;
}

/* A fixed-width field p11-kit filled: all zero when absent, space-padded when set. */
static int kms_uri_field(const CK_UTF8CHAR *f, size_t n, char **out)
{
	if (f[0] == '\0')
		return 0;
	return kms_uri_dup(f, kms_uri_trimmed(f, n), out);
}

static int kms_uri_str(const char *v, char **out)
{
	if (v == NULL)
		return 0;
	return kms_uri_dup(v, strlen(v), out);
}

static CK_RV kms_uri_extract(P11KitUri *p, struct kms_uri *u, const char **err)
{
	CK_INFO *mi = p11_kit_uri_get_module_info(p);
	CK_SLOT_INFO *si = p11_kit_uri_get_slot_info(p);
	CK_TOKEN_INFO *ti = p11_kit_uri_get_token_info(p);
	CK_ATTRIBUTE *a;
	int r = 0;

#define KMS_FIELD(f, dst) \
	if (r == 0)       \
	r = kms_uri_field((f), sizeof(f), (dst))
	KMS_FIELD(ti->label, &u->token);
	KMS_FIELD(ti->manufacturerID, &u->manufacturer);
	KMS_FIELD(ti->serialNumber, &u->serial);
	KMS_FIELD(ti->model, &u->model);
	KMS_FIELD(mi->manufacturerID, &u->library_manufacturer);
	KMS_FIELD(mi->libraryDescription, &u->library_description);
	KMS_FIELD(si->slotDescription, &u->slot_description);
	KMS_FIELD(si->manufacturerID, &u->slot_manufacturer);
#undef KMS_FIELD
	/* p11-kit marks an absent version as 255.255 and an absent slot id as ~0. */
	if (!(mi->libraryVersion.major == (CK_BYTE)-1 && mi->libraryVersion.minor == (CK_BYTE)-1)) {
		u->has_library_version = true;
		u->library_version = mi->libraryVersion;
	}
	if (p11_kit_uri_get_slot_id(p) != (CK_SLOT_ID)-1) {
		u->has_slot_id = true;
		u->slot_id = p11_kit_uri_get_slot_id(p);
	}
	a = p11_kit_uri_get_attribute(p, CKA_LABEL);
	if (r == 0 && a != NULL && a->ulValueLen != (CK_ULONG)-1)
		r = kms_uri_dup(a->pValue != NULL ? a->pValue : "", a->ulValueLen, &u->object);
	a = p11_kit_uri_get_attribute(p, CKA_ID);
	if (r == 0 && a != NULL && a->ulValueLen != (CK_ULONG)-1) {
		u->id = malloc(a->ulValueLen > 0 ? a->ulValueLen : 1);
		if (u->id == NULL) {
			r = -1;
		} else {
			if (a->ulValueLen > 0)
				memcpy(u->id, a->pValue, a->ulValueLen);
			u->id_len = a->ulValueLen;
			u->has_id = true;
		}
	}
	a = p11_kit_uri_get_attribute(p, CKA_CLASS);
	if (r == 0 && a != NULL && a->pValue != NULL && a->ulValueLen == sizeof(CK_OBJECT_CLASS)) {
		u->has_type = true;
		memcpy(&u->type, a->pValue, sizeof(CK_OBJECT_CLASS));
	}
	if (r == 0)
		r = kms_uri_str(p11_kit_uri_get_pin_value(p), &u->pin_value);
	if (r == 0)
		r = kms_uri_str(p11_kit_uri_get_pin_source(p), &u->pin_source);
	if (r == 0)
		r = kms_uri_str(p11_kit_uri_get_module_name(p), &u->module_name);
	if (r == 0)
		r = kms_uri_str(p11_kit_uri_get_module_path(p), &u->module_path);
	if (r < 0) {
		*err = "out of memory";
		return CKR_HOST_MEMORY;
	}
	if (r > 0) {
		*err = "NUL byte (%00) in a pkcs11: URI attribute";
		return CKR_ARGUMENTS_BAD;
	}
	return CKR_OK;
}

/* Frees a P11KitUri; it keeps its own heap copy of pin-value and would free it unwiped. */
static void kms_uri_free_p11(P11KitUri *p)
{
	char *pin = (char *)p11_kit_uri_get_pin_value(p);

	if (pin != NULL)
		OPENSSL_cleanse(pin, strlen(pin));
	p11_kit_uri_free(p);
}

CK_RV kms_uri_parse(const char *s, struct kms_uri *u, const char **err)
{
	const char *dummy;
	P11KitUri *p = NULL;
	CK_RV rv;
	int r;

	if (err == NULL)
		err = &dummy;
	*err = NULL;
	if (u == NULL) {
		*err = "no URI";
		return CKR_ARGUMENTS_BAD;
	}
	memset(u, 0, sizeof(*u));
	if (s == NULL) {
		*err = "no URI";
		return CKR_ARGUMENTS_BAD;
	}
	p = p11_kit_uri_new();
	if (p == NULL) {
		*err = "out of memory";
		return CKR_HOST_MEMORY;
	}
	r = p11_kit_uri_parse(s, P11_KIT_URI_FOR_ANY, p);
	switch (r) {
	case P11_KIT_URI_OK:
		break;
	case P11_KIT_URI_BAD_SCHEME:
		*err = "not a pkcs11: URI (it must start with \"pkcs11:\")";
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	case P11_KIT_URI_BAD_ENCODING:
		*err = "bad percent-encoding in pkcs11: URI";
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	case P11_KIT_URI_BAD_VERSION:
		*err = "bad library-version in pkcs11: URI";
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	case P11_KIT_URI_UNEXPECTED:
		*err = "out of memory";
		rv = CKR_HOST_MEMORY;
		goto out;
	default:
		*err = "bad pkcs11: URI syntax";
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if (p11_kit_uri_any_unrecognized(p)) {
		P11KitUri *again = NULL;
		rv = kms_uri_check_unrecognized(s, u, &again, err);
		if (rv != CKR_OK)
			goto out;
		kms_uri_free_p11(p);
		p = again;
	}
	rv = kms_uri_extract(p, u, err);
out:
	kms_uri_free_p11(p);
	if (rv != CKR_OK)
		kms_uri_clear(u);
	return rv;
}

void kms_uri_clear(struct kms_uri *u)
{
	if (u == NULL)
		return;
	free(u->token);
	free(u->manufacturer);
	free(u->serial);
	free(u->model);
	free(u->library_manufacturer);
	free(u->library_description);
	free(u->slot_description);
	free(u->slot_manufacturer);
	free(u->object);
	free(u->id);
	if (u->pin_value != NULL)
		kms_free_wiped(u->pin_value, strlen(u->pin_value));
	free(u->pin_source);
	free(u->module_name);
	free(u->module_path);
	memset(u, 0, sizeof(*u));
}

/* ---- formatting ---- */

struct kms_uri_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void kms_uri_add(struct kms_uri_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (n > SIZE_MAX - b->len - 1) {
		b->oom = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
		char *q = realloc(b->p, cap);
		if (q == NULL) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void kms_uri_adds(struct kms_uri_buf *b, const char *s)
{
	kms_uri_add(b, s, strlen(s));
}

/*
 * RFC 7512 percent-encoding. Verbatim: unreserved characters plus
 * pk11-path-res-avail (":[]@!$'()*+,=") in the path, and in the query also
 * "/", "?" and "|". Everything else, and every byte when all is set, becomes %XX.
 */
static void kms_uri_enc(struct kms_uri_buf *b, const uint8_t *p, size_t n, bool query, bool all)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		bool plain = !all && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
				      strchr("-._~:[]@!$'()*+,=", c) != NULL ||
				      (query && strchr("/?|", c) != NULL));
		if (c == '\0')
			plain = false;
		if (plain) {
			kms_uri_add(b, (const char *)&p[i], 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 0x0f] };
			kms_uri_add(b, e, 3);
		}
	}
}

/* Appends "name=value" to the path (sep is ';' after the first). */
static void kms_uri_path_attr(struct kms_uri_buf *b, bool *first, const char *name, const void *v, size_t n,
			      bool all)
{
	if (!*first)
		kms_uri_adds(b, ";");
	*first = false;
	kms_uri_adds(b, name);
	kms_uri_adds(b, "=");
	kms_uri_enc(b, v, n, false, all);
}

static void kms_uri_path_str(struct kms_uri_buf *b, bool *first, const char *name, const char *v)
{
	if (v != NULL)
		kms_uri_path_attr(b, first, name, v, strlen(v), false);
}

static void kms_uri_query_str(struct kms_uri_buf *b, bool *first, const char *name, const char *v)
{
	if (v == NULL)
		return;
	kms_uri_adds(b, *first ? "?" : "&");
	*first = false;
	kms_uri_adds(b, name);
	kms_uri_adds(b, "=");
	kms_uri_enc(b, (const uint8_t *)v, strlen(v), true, false);
}

static const char *kms_uri_type_name(CK_OBJECT_CLASS cls)
{
	switch (cls) {
	case CKO_PRIVATE_KEY:
		return "private";
	case CKO_PUBLIC_KEY:
		return "public";
	case CKO_SECRET_KEY:
		return "secret-key";
	case CKO_CERTIFICATE:
		return "cert";
	case CKO_DATA:
		return "data";
	default:
		return NULL;
	}
}

static char *kms_uri_finish(struct kms_uri_buf *b)
{
	if (b->oom) {
		free(b->p);
		return NULL;
	}
	return b->p;
}

char *kms_uri_format_key(const char *token, const char *label, const uint8_t *id, size_t id_len,
			 CK_OBJECT_CLASS cls)
{
	struct kms_uri_buf b = { NULL, 0, 0, false };
	bool first = true;
	const char *type = kms_uri_type_name(cls);

	kms_uri_adds(&b, "pkcs11:");
	if (token != NULL) /* a token label is space-padded: trailing spaces carry nothing */
		kms_uri_path_attr(&b, &first, "token", token,
				  kms_uri_trimmed((const CK_UTF8CHAR *)token, strlen(token)), false);
	kms_uri_path_str(&b, &first, "object", label);
	if (id != NULL)
		kms_uri_path_attr(&b, &first, "id", id, id_len, true);
	if (type != NULL)
		kms_uri_path_str(&b, &first, "type", type);
	return kms_uri_finish(&b);
}

char *kms_uri_format(const struct kms_uri *u)
{
	struct kms_uri_buf b = { NULL, 0, 0, false };
	bool first = true;
	char num[48];

	if (u == NULL)
		return NULL;
	kms_uri_adds(&b, "pkcs11:");
	kms_uri_path_str(&b, &first, "library-description", u->library_description);
	kms_uri_path_str(&b, &first, "library-manufacturer", u->library_manufacturer);
	if (u->has_library_version) {
		snprintf(num, sizeof(num), "%u.%u", (unsigned)u->library_version.major,
			 (unsigned)u->library_version.minor);
		kms_uri_path_str(&b, &first, "library-version", num);
	}
	kms_uri_path_str(&b, &first, "slot-description", u->slot_description);
	kms_uri_path_str(&b, &first, "slot-manufacturer", u->slot_manufacturer);
	if (u->has_slot_id) {
		snprintf(num, sizeof(num), "%lu", (unsigned long)u->slot_id);
		kms_uri_path_str(&b, &first, "slot-id", num);
	}
	kms_uri_path_str(&b, &first, "token", u->token);
	kms_uri_path_str(&b, &first, "manufacturer", u->manufacturer);
	kms_uri_path_str(&b, &first, "model", u->model);
	kms_uri_path_str(&b, &first, "serial", u->serial);
	kms_uri_path_str(&b, &first, "object", u->object);
	if (u->has_id)
		kms_uri_path_attr(&b, &first, "id", u->id != NULL ? u->id : (const uint8_t *)"", u->id_len, true);
	if (u->has_type) {
		const char *type = kms_uri_type_name(u->type);
		if (type != NULL)
			kms_uri_path_str(&b, &first, "type", type);
	}
	first = true;
	kms_uri_query_str(&b, &first, "pin-source", u->pin_source);
	kms_uri_query_str(&b, &first, "pin-value", u->pin_value);
	kms_uri_query_str(&b, &first, "module-name", u->module_name);
	kms_uri_query_str(&b, &first, "module-path", u->module_path);
	return kms_uri_finish(&b);
}

/* ---- matching ---- */

/* Compares a URI value with a space-padded fixed-width field, both without trailing spaces. */
static bool kms_uri_match_field(const char *v, const CK_UTF8CHAR *f, size_t n)
{
	size_t vl, fl;

	if (v == NULL)
		return true;
	vl = kms_uri_trimmed((const CK_UTF8CHAR *)v, strlen(v));
	fl = kms_uri_trimmed(f, n);
	return vl == fl && memcmp(v, f, vl) == 0;
}

bool kms_uri_match_token(const struct kms_uri *u, const CK_TOKEN_INFO *ti)
{
	if (u == NULL || ti == NULL)
		return false;
	return kms_uri_match_field(u->token, ti->label, sizeof(ti->label)) &&
	       kms_uri_match_field(u->manufacturer, ti->manufacturerID, sizeof(ti->manufacturerID)) &&
	       kms_uri_match_field(u->serial, ti->serialNumber, sizeof(ti->serialNumber)) &&
	       kms_uri_match_field(u->model, ti->model, sizeof(ti->model));
}
