/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers: hex and base64, ISO 8601 time, big-endian integers, a u64 hash map. */
#ifndef KMS_COMMON_UTIL_H
#define KMS_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The value of one hex digit (either case), or -1. */
int kms_hex_digit(char c);
/* Lower-case hex of n bytes into a malloc'd NUL-terminated string; NULL when out of memory. */
char *kms_hex_encode(const uint8_t *p, size_t n);
/* Decodes hex (either case, even length) into a malloc'd buffer; -1 on bad input or no memory. */
int kms_hex_decode(const char *s, uint8_t **out, size_t *outlen);
/* Base64 (standard alphabet, padded, no newlines) into a malloc'd string; NULL when out of memory. */
char *kms_base64_encode(const uint8_t *p, size_t n);
/* Decodes standard padded base64 (no newlines); -1 on bad input or no memory. */
int kms_base64_decode(const char *s, uint8_t **out, size_t *outlen);
/* Formats t as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes); returns buf. */
char *kms_time_iso8601(time_t t, char *buf, size_t len);
/* Parses "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS[.fff](Z|+hh:mm)" as UTC; -1 on bad input. */
int kms_time_parse(const char *s, time_t *out);

static inline void kms_be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint64_t kms_be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static inline void kms_be32_put(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint32_t kms_be32_get(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Open-addressing hash map from a non-zero u64 key to a pointer. Not thread safe. */
struct kms_map {
	uint64_t *keys;
	void **vals;
	size_t cap; /* power of two, or 0 */
	size_t n;
};

#define KMS_MAP_INIT { NULL, NULL, 0, 0 }
/* Returns the value or NULL. */
void *kms_map_get(const struct kms_map *m, uint64_t key);
/* Inserts or replaces; returns 0, or -1 when out of memory or key is 0. */
int kms_map_put(struct kms_map *m, uint64_t key, void *val);
/* Removes and returns the value, or NULL when absent. */
void *kms_map_del(struct kms_map *m, uint64_t key);
/* Calls fn for each entry (do not modify the map inside fn). */
void kms_map_each(const struct kms_map *m, void (*fn)(uint64_t key, void *val, void *ctx), void *ctx);
void kms_map_free(struct kms_map *m);

#endif
