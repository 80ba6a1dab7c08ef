/* SPDX-License-Identifier: Apache-2.0 */
/* Sorted attribute lists (binary search by type, values wiped when dropped) and their record encoding. */
#include "common/attrs.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <p11-kit/pkcs11.h>

#include "include/kms11.h"

#define KMS_RECORD_HDR 12u   /* magic, version, flags, count */
#define KMS_RECORD_ENTRY 12u /* type, len */

static const uint8_t kms_record_magic[4] = { 'K', '1', '1', 'R' };

static void kms_le16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void kms_le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static void kms_le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint16_t kms_le16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t kms_le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t kms_le64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void kms_attr_drop(struct kms_attr *at)
{
	if (at->val) {
		OPENSSL_cleanse(at->val, at->len);
		free(at->val);
	}
	at->val = NULL;
	at->len = 0;
}

/* Returns the index of type, or the insertion point with *found false. */
static size_t kms_attrs_search(const struct kms_attrs *a, uint64_t type, bool *found)
{
	size_t lo = 0, hi = a->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a->v[mid].type == type) {
			*found = true;
			return mid;
		}
		if (a->v[mid].type < type)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static int kms_attrs_reserve(struct kms_attrs *a, size_t want)
{
	struct kms_attr *nv;
	size_t cap;

	if (want <= a->cap)
		return 0;
	cap = a->cap ? a->cap : 8;
	while (cap < want) {
		if (cap > SIZE_MAX / 2 / sizeof(*nv))
			return -1;
		cap *= 2;
	}
	nv = realloc(a->v, cap * sizeof(*nv));
	if (!nv)
		return -1;
	a->v = nv;
	a->cap = cap;
	return 0;
}

void kms_attrs_init(struct kms_attrs *a)
{
	a->v = NULL;
	a->n = 0;
	a->cap = 0;
}

void kms_attrs_free(struct kms_attrs *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		kms_attr_drop(&a->v[i]);
	free(a->v);
	kms_attrs_init(a);
}

int kms_attrs_set(struct kms_attrs *a, uint64_t type, const void *val, size_t len)
{
	uint8_t *copy = NULL;
	bool found;
	size_t i;

	if (len > 0) {
		if (!val)
			return -1;
		copy = malloc(len);
		if (!copy)
			return -1;
		memcpy(copy, val, len);
	}
	i = kms_attrs_search(a, type, &found);
	if (found) {
		kms_attr_drop(&a->v[i]);
		a->v[i].val = copy;
		a->v[i].len = len;
		return 0;
	}
	if (a->n == SIZE_MAX || kms_attrs_reserve(a, a->n + 1) < 0) {
		if (copy) {
			OPENSSL_cleanse(copy, len);
			free(copy);
		}
		return -1;
	}
	memmove(&a->v[i + 1], &a->v[i], (a->n - i) * sizeof(a->v[0]));
	a->v[i].type = type;
	a->v[i].len = len;
	a->v[i].val = copy;
	a->n++;
	return 0;
}

int kms_attrs_set_ulong(struct kms_attrs *a, uint64_t type, unsigned long v)
{
	return kms_attrs_set(a, type, &v, sizeof(v));
}

int kms_attrs_set_bool(struct kms_attrs *a, uint64_t type, bool v)
{
	uint8_t b = v ? 1 : 0;

	return kms_attrs_set(a, type, &b, 1);
}

const struct kms_attr *kms_attrs_get(const struct kms_attrs *a, uint64_t type)
{
	bool found;
	size_t i;

	if (!a || a->n == 0)
		return NULL;
	i = kms_attrs_search(a, type, &found);
	return found ? &a->v[i] : NULL;
}

bool kms_attrs_get_bool(const struct kms_attrs *a, uint64_t type, bool dflt)
{
	const struct kms_attr *at = kms_attrs_get(a, type);

	if (!at || at->len != 1)
		return dflt;
	return at->val[0] != 0;
}

int kms_attrs_get_ulong(const struct kms_attrs *a, uint64_t type, unsigned long *v)
{
	const struct kms_attr *at = kms_attrs_get(a, type);

	if (!at || at->len != sizeof(*v))
		return -1;
	memcpy(v, at->val, sizeof(*v));
	return 0;
}

void kms_attrs_del(struct kms_attrs *a, uint64_t type)
{
	bool found;
	size_t i;

	if (!a || a->n == 0)
		return;
	i = kms_attrs_search(a, type, &found);
	if (!found)
		return;
	kms_attr_drop(&a->v[i]);
	memmove(&a->v[i], &a->v[i + 1], (a->n - i - 1) * sizeof(a->v[0]));
	a->n--;
}

int kms_attrs_copy(struct kms_attrs *dst, const struct kms_attrs *src)
{
	kms_attrs_init(dst);
	if (src->n == 0)
		return 0;
	if (kms_attrs_reserve(dst, src->n) < 0)
		return -1;
	for (size_t i = 0; i < src->n; i++) {
		struct kms_attr *d = &dst->v[i];

		d->type = src->v[i].type;
		d->len = src->v[i].len;
		d->val = NULL;
		if (d->len > 0) {
			d->val = malloc(d->len);
			if (!d->val) {
				dst->n = i;
				kms_attrs_free(dst);
				return -1;
			}
			memcpy(d->val, src->v[i].val, d->len);
		}
		dst->n = i + 1;
	}
	return 0;
}

int kms_attrs_merge(struct kms_attrs *dst, const struct kms_attrs *src)
{
	struct kms_attrs tmp;

	/* Work on a copy so that dst is unchanged on failure. */
	if (kms_attrs_copy(&tmp, dst) < 0)
		return -1;
	for (size_t i = 0; i < src->n; i++) {
		if (kms_attrs_set(&tmp, src->v[i].type, src->v[i].val, src->v[i].len) < 0) {
			kms_attrs_free(&tmp);
			return -1;
		}
	}
	kms_attrs_free(dst);
	*dst = tmp;
	return 0;
}

int kms_attrs_encode(const struct kms_attrs *a, uint8_t **out, size_t *outlen)
{
	size_t total = KMS_RECORD_HDR, off;
	uint8_t *buf;

	*out = NULL;
	*outlen = 0;
	if (a->n > UINT32_MAX)
		return -1;
	for (size_t i = 0; i < a->n; i++) {
		if (a->v[i].len > UINT32_MAX)
			return -1;
		if (total > SIZE_MAX - KMS_RECORD_ENTRY - a->v[i].len)
			return -1;
		total += KMS_RECORD_ENTRY + a->v[i].len;
	}
	buf = malloc(total);
	if (!buf)
		return -1;
	memcpy(buf, kms_record_magic, 4);
	kms_le16_put(buf + 4, KMS_RECORD_VERSION);
	kms_le16_put(buf + 6, 0);
	kms_le32_put(buf + 8, (uint32_t)a->n);
	off = KMS_RECORD_HDR;
	for (size_t i = 0; i < a->n; i++) {
		kms_le64_put(buf + off, a->v[i].type);
		kms_le32_put(buf + off + 8, (uint32_t)a->v[i].len);
		off += KMS_RECORD_ENTRY;
		if (a->v[i].len > 0)
			memcpy(buf + off, a->v[i].val, a->v[i].len);
		off += a->v[i].len;
	}
	*out = buf;
	*outlen = total;
	return 0;
}

/* Checks the header; returns the entry count, or -1 when malformed. */
static int64_t kms_record_header(const uint8_t *in, size_t len)
{
	uint32_t count;

	if (!in || len < KMS_RECORD_HDR)
		return -1;
	if (memcmp(in, kms_record_magic, 4) != 0)
		return -1;
	if (kms_le16_get(in + 4) != KMS_RECORD_VERSION || kms_le16_get(in + 6) != 0)
		return -1;
	count = kms_le32_get(in + 8);
	/* Each entry takes at least its 12-byte head. */
	if (count > (len - KMS_RECORD_HDR) / KMS_RECORD_ENTRY)
		return -1;
	return count;
}

/* out must be empty: it is overwritten (kms_attrs_init) without being freed. */
int kms_attrs_decode(const uint8_t *in, size_t len, struct kms_attrs *out)
{
	struct kms_attrs tmp = KMS_ATTRS_INIT;
	int64_t count;
	size_t off = KMS_RECORD_HDR;

	kms_attrs_init(out);
	count = kms_record_header(in, len);
	if (count < 0)
		return -1;
	if (count > 0 && kms_attrs_reserve(&tmp, (size_t)count) < 0)
		return -1;
	for (int64_t i = 0; i < count; i++) {
		struct kms_attr *at = &tmp.v[tmp.n];
		uint64_t type;
		uint32_t vlen;

		if (len - off < KMS_RECORD_ENTRY)
			goto bad;
		type = kms_le64_get(in + off);
		vlen = kms_le32_get(in + off + 8);
		off += KMS_RECORD_ENTRY;
		if (vlen > len - off)
			goto bad;
		/* Types are strictly increasing: sorted and unique. */
		if (tmp.n > 0 && type <= tmp.v[tmp.n - 1].type)
			goto bad;
		at->type = type;
		at->len = vlen;
		at->val = NULL;
		if (vlen > 0) {
			at->val = malloc(vlen);
			if (!at->val)
				goto bad;
			memcpy(at->val, in + off, vlen);
		}
		tmp.n++;
		off += vlen;
	}
	if (off != len)
		goto bad;
	*out = tmp;
	return 0;
bad:
	kms_attrs_free(&tmp);
	return -1;
}

int kms_record_find(const uint8_t *in, size_t len, uint64_t type, const uint8_t **val, size_t *vlen)
{
	int64_t count = kms_record_header(in, len);
	size_t off = KMS_RECORD_HDR;

	if (count < 0)
		return -1;
	for (int64_t i = 0; i < count; i++) {
		uint64_t t;
		uint32_t l;

		if (len - off < KMS_RECORD_ENTRY)
			return -1;
		t = kms_le64_get(in + off);
		l = kms_le32_get(in + off + 8);
		off += KMS_RECORD_ENTRY;
		if (l > len - off)
			return -1;
		if (t == type) {
			*val = in + off;
			*vlen = l;
			return 0;
		}
		if (t > type)
			return -1; /* sorted: it is not there */
		off += l;
	}
	return -1;
}

bool kms_attr_is_key_class(unsigned long cls)
{
	return cls == CKO_PUBLIC_KEY || cls == CKO_PRIVATE_KEY || cls == CKO_SECRET_KEY;
}

bool kms_attr_is_list(uint64_t type)
{
	return type == CKA_KMS11_ALIASES || type == CKA_KMS11_TAGS;
}

bool kms_attr_default(uint64_t type, const uint8_t **val, size_t *len)
{
	static const unsigned long state = KMS11_STATE_ENABLED, version = 1, zero = 0;
	static const uint8_t yes = CK_TRUE;

	switch (type) {
	case CKA_KMS11_ALIASES:
	case CKA_KMS11_TAGS:
	case CKA_KMS11_DESCRIPTION:
	case CKA_KMS11_NEXT_ROTATION:
	case CKA_KMS11_DELETION_DATE:
	case CKA_KMS11_EXPIRATION_DATE:
		*val = NULL;
		*len = 0;
		return true;
	case CKA_KMS11_METADATA:
		*val = (const uint8_t *)"{}";
		*len = 2;
		return true;
	case CKA_KMS11_STATE:
		*val = (const uint8_t *)&state;
		*len = sizeof(state);
		return true;
	case CKA_KMS11_VERSION:
		*val = (const uint8_t *)&version;
		*len = sizeof(version);
		return true;
	case CKA_KMS11_ROTATION_DAYS:
		*val = (const uint8_t *)&zero;
		*len = sizeof(zero);
		return true;
	case CKA_KMS11_PRIMARY:
		*val = &yes;
		*len = 1;
		return true;
	default:
		return false;
	}
}

bool kms_attr_list_valid(const uint8_t *val, size_t len)
{
	size_t pos = 0;

	if (len == 0)
		return true;
	if (!val || val[len - 1] != 0)
		return false;
	while (pos < len) {
		size_t el = strlen((const char *)val + pos);

		if (el == 0)
			return false;
		/* No element twice: compare with every earlier one. */
		for (size_t q = 0; q < pos;) {
			size_t ql = strlen((const char *)val + q);

			if (ql == el && memcmp(val + q, val + pos, el) == 0)
				return false;
			q += ql + 1;
		}
		pos += el + 1;
	}
	return true;
}

bool kms_attr_matches(uint64_t type, bool is_key, const uint8_t *val, size_t len, const uint8_t *want,
		      size_t wantlen)
{
	if (!val && !(is_key && kms_attr_default(type, &val, &len)))
		return false;
	if (kms_attr_is_list(type)) {
		size_t pos = 0;

		if (wantlen && want[wantlen - 1] == 0)
			wantlen--;
		if (wantlen == 0)
			return len == 0;
		while (pos < len) {
			const uint8_t *end = memchr(val + pos, 0, len - pos);
			size_t el = end ? (size_t)(end - (val + pos)) : len - pos;

			if (el == wantlen && memcmp(val + pos, want, el) == 0)
				return true;
			pos += el + 1;
		}
		return false;
	}
	return len == wantlen && (len == 0 || memcmp(val, want, len) == 0);
}
