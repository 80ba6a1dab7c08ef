/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers: hex and base64 codecs, ISO 8601 time, and an open-addressing u64 hash map. */
#include "common/util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* ---- hex ---- */

int kms_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *kms_hex_encode(const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *s;

	if (n > (SIZE_MAX - 1) / 2)
		return NULL;
	s = malloc(2 * n + 1);
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 0x0f];
	}
	s[2 * n] = '\0';
	return s;
}

int kms_hex_decode(const char *s, uint8_t **out, size_t *outlen)
{
	size_t len, n;
	uint8_t *buf;

	if (s == NULL || out == NULL || outlen == NULL)
		return -1;
	len = strlen(s);
	if (len % 2 != 0)
		return -1;
	n = len / 2;
	buf = malloc(n > 0 ? n : 1);
	if (buf == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = kms_hex_digit(s[2 * i]);
		int lo = kms_hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(buf);
			return -1;
		}
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = buf;
	*outlen = n;
	return 0;
}

/* ---- base64 ---- */

static bool kms_b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
	       c == '/';
}

char *kms_base64_encode(const uint8_t *p, size_t n)
{
	size_t outlen;
	char *s;

	/* EVP_EncodeBlock takes an int length. */
	if (n > (size_t)INT_MAX / 4 * 3 - 3)
		return NULL;
	outlen = 4 * ((n + 2) / 3) + 1;
	s = malloc(outlen);
	if (s == NULL)
		return NULL;
	if (n == 0) {
		s[0] = '\0';
		return s;
	}
	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

int kms_base64_decode(const char *s, uint8_t **out, size_t *outlen)
{
	size_t len, pad = 0;
	uint8_t *buf;
	int r;

	if (s == NULL || out == NULL || outlen == NULL)
		return -1;
	len = strlen(s);
	if (len % 4 != 0 || len > INT_MAX)
		return -1;
	/* Strict check: EVP_DecodeBlock skips whitespace and does not say how much
	 * padding it saw, so validate the alphabet and the padding here. */
	if (len > 0 && s[len - 1] == '=')
		pad++;
	if (len > 1 && s[len - 2] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++)
		if (!kms_b64_char((unsigned char)s[i]))
			return -1;
	buf = malloc(len / 4 * 3 + 1);
	if (buf == NULL)
		return -1;
	if (len == 0) {
		*out = buf;
		*outlen = 0;
		return 0;
	}
	r = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len);
	if (r < 0 || (size_t)r != len / 4 * 3) {
		free(buf);
		return -1;
	}
	*out = buf;
	*outlen = (size_t)r - pad;
	return 0;
}

/* ---- time ---- */

char *kms_time_iso8601(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (buf == NULL || len == 0)
		return buf;
	if (gmtime_r(&t, &tm) == NULL) {
		buf[0] = '\0';
		return buf;
	}
	if (strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
	return buf;
}

/* Reads exactly n decimal digits at *p; -1 if any is not a digit. */
static int kms_time_digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += n;
	return v;
}

static int kms_time_mdays(int year, int mon)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return mon == 2 && leap ? 29 : days[mon - 1];
}

int kms_time_parse(const char *s, time_t *out)
{
	struct tm tm;
	const char *p = s;
	int year, mon, day, hh = 0, mm = 0, ss = 0;
	long offset = 0;
	time_t t;

	if (s == NULL || out == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if ((year = kms_time_digits(&p, 4)) < 0 || *p++ != '-' || (mon = kms_time_digits(&p, 2)) < 0 ||
	    *p++ != '-' || (day = kms_time_digits(&p, 2)) < 0)
		return -1;
	if (mon < 1 || mon > 12 || day < 1 || day > kms_time_mdays(year, mon))
		return -1;
	if (*p != '\0') {
		if (*p != 'T' && *p != 't')
			return -1;
		p++;
		if ((hh = kms_time_digits(&p, 2)) < 0 || *p++ != ':' || (mm = kms_time_digits(&p, 2)) < 0 ||
		    *p++ != ':' || (ss = kms_time_digits(&p, 2)) < 0)
			return -1;
		if (hh > 23 || mm > 59 || ss > 60)
			return -1;
		if (*p == '.') {
			p++;
			if (*p < '0' || *p > '9')
				return -1;
			while (*p >= '0' && *p <= '9')
				p++;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1;
			int oh, om;
			if ((oh = kms_time_digits(&p, 2)) < 0 || *p++ != ':' || (om = kms_time_digits(&p, 2)) < 0)
				return -1;
			if (oh > 23 || om > 59)
				return -1;
			offset = sign * (oh * 3600L + om * 60L);
		} else {
			return -1;
		}
		if (*p != '\0')
			return -1;
	}
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	t = timegm(&tm);
	if (t == (time_t)-1 && !(year == 1969 && mon == 12 && day == 31 && hh == 23 && mm == 59 && ss == 59))
		return -1;
	/* local time = UTC + offset, so UTC = local - offset */
	*out = t - offset;
	return 0;
}

/* ---- u64 hash map: linear probing, backward-shift deletion, key 0 marks an empty slot ---- */

static size_t kms_map_hash(uint64_t k)
{
	/* splitmix64 finalizer: object ids are often sequential. */
	k ^= k >> 30;
	k *= 0xbf58476d1ce4e5b9ULL;
	k ^= k >> 27;
	k *= 0x94d049bb133111ebULL;
	k ^= k >> 31;
	return (size_t)k;
}

static size_t kms_map_find(const struct kms_map *m, uint64_t key)
{
	size_t mask = m->cap - 1;
	size_t i = kms_map_hash(key) & mask;

	while (m->keys[i] != 0 && m->keys[i] != key)
		i = (i + 1) & mask;
	return i;
}

void *kms_map_get(const struct kms_map *m, uint64_t key)
{
	size_t i;

	if (m == NULL || m->cap == 0 || key == 0)
		return NULL;
	i = kms_map_find(m, key);
	return m->keys[i] == key ? m->vals[i] : NULL;
}

static int kms_map_grow(struct kms_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16;
	struct kms_map n = { NULL, NULL, cap, 0 };

	if (cap == 0 || cap > SIZE_MAX / sizeof(void *))
		return -1;
	n.keys = calloc(cap, sizeof(uint64_t));
	n.vals = calloc(cap, sizeof(void *));
	if (n.keys == NULL || n.vals == NULL) {
		free(n.keys);
		free(n.vals);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (m->keys[i] == 0)
			continue;
		size_t j = kms_map_find(&n, m->keys[i]);
		n.keys[j] = m->keys[i];
		n.vals[j] = m->vals[i];
		n.n++;
	}
	free(m->keys);
	free(m->vals);
	*m = n;
	return 0;
}

int kms_map_put(struct kms_map *m, uint64_t key, void *val)
{
	size_t i;

	if (m == NULL || key == 0)
		return -1;
	if (m->cap != 0) {
		i = kms_map_find(m, key);
		if (m->keys[i] == key) {
			m->vals[i] = val;
			return 0;
		}
	}
	/* Keep the load at or below 70% after this insert. */
	if (m->cap == 0 || (m->n + 1) * 10 > m->cap * 7) {
		if (kms_map_grow(m) < 0)
			return -1;
	}
	i = kms_map_find(m, key);
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
	return 0;
}

void *kms_map_del(struct kms_map *m, uint64_t key)
{
	size_t mask, i, j;
	void *val;

	if (m == NULL || m->cap == 0 || key == 0)
		return NULL;
	mask = m->cap - 1;
	i = kms_map_find(m, key);
	if (m->keys[i] != key)
		return NULL;
	val = m->vals[i];
	/* Shift later members of the probe run back into the hole, so lookups never
	 * stop early at it (no tombstones needed). */
	j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (m->keys[j] == 0)
			break;
		size_t home = kms_map_hash(m->keys[j]) & mask;
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		m->keys[i] = m->keys[j];
		m->vals[i] = m->vals[j];
		i = j;
	}
	m->keys[i] = 0;
	m->vals[i] = NULL;
	m->n--;
	return val;
}

void kms_map_each(const struct kms_map *m, void (*fn)(uint64_t key, void *val, void *ctx), void *ctx)
{
	if (m == NULL || fn == NULL)
		return;
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i] != 0)
			fn(m->keys[i], m->vals[i], ctx);
}

void kms_map_free(struct kms_map *m)
{
	if (m == NULL)
		return;
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = 0;
	m->n = 0;
}
