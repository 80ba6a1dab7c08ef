/* SPDX-License-Identifier: Apache-2.0 */
/* A sorted list of typed attributes (a 64-bit type and a byte string each), and its record encoding. */
#ifndef KMS_COMMON_ATTRS_H
#define KMS_COMMON_ATTRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One attribute. Values are owned by the list and wiped when freed. */
struct kms_attr {
	uint64_t type;
	size_t len;
	uint8_t *val; /* NULL when len == 0 */
};

/* Kept sorted by type; at most one entry per type. */
struct kms_attrs {
	struct kms_attr *v;
	size_t n;
	size_t cap;
};

#define KMS_ATTRS_INIT { NULL, 0, 0 }

/* Record format version written by kms_attrs_encode. */
#define KMS_RECORD_VERSION 1

void kms_attrs_init(struct kms_attrs *a);
/* Wipes every value and frees the list; the list is empty and reusable afterwards. */
void kms_attrs_free(struct kms_attrs *a);
/* Adds or replaces; returns 0, or -1 when out of memory (the list is unchanged). */
int kms_attrs_set(struct kms_attrs *a, uint64_t type, const void *val, size_t len);
/* Stores an unsigned long (CK_ULONG) in host order; returns 0 or -1. */
int kms_attrs_set_ulong(struct kms_attrs *a, uint64_t type, unsigned long v);
/* Stores a one-byte boolean (CK_BBOOL); returns 0 or -1. */
int kms_attrs_set_bool(struct kms_attrs *a, uint64_t type, bool v);
/* Returns the attribute, or NULL when absent. */
const struct kms_attr *kms_attrs_get(const struct kms_attrs *a, uint64_t type);
/* Returns the boolean value, or dflt when absent or not one byte. */
bool kms_attrs_get_bool(const struct kms_attrs *a, uint64_t type, bool dflt);
/* Returns 0 and sets *v, or -1 when absent or not sizeof(unsigned long) bytes. */
int kms_attrs_get_ulong(const struct kms_attrs *a, uint64_t type, unsigned long *v);
/* Removes the attribute (wiping it) if present. */
void kms_attrs_del(struct kms_attrs *a, uint64_t type);
/* Deep copy into an empty dst; returns 0 or -1 (dst left empty). */
int kms_attrs_copy(struct kms_attrs *dst, const struct kms_attrs *src);
/* Copies every attribute of src into dst, replacing same types; returns 0 or -1. */
int kms_attrs_merge(struct kms_attrs *dst, const struct kms_attrs *src);

/*
 * Record encoding (little endian):
 *   u32 magic "K11R", u16 version, u16 flags (0), u32 count,
 *   then count times: u64 type, u32 len, len bytes.
 * Encode returns 0 with a malloc'd buffer, or -1 when out of memory.
 * Decode returns 0, or -1 on a malformed or truncated record (out left empty).
 */
int kms_attrs_encode(const struct kms_attrs *a, uint8_t **out, size_t *outlen);
int kms_attrs_decode(const uint8_t *in, size_t len, struct kms_attrs *out);
/* Finds one attribute in an encoded record without decoding it: returns 0 and
 * points *val into in, or -1 when absent or the record is malformed. */
int kms_record_find(const uint8_t *in, size_t len, uint64_t type, const uint8_t **val, size_t *vlen);

/* The value a key object (a class that kms_attr_is_key_class accepts) answers for a management attribute
 * (kms11.h) it does not hold: true with *val and *len set, false for any other attribute. */
bool kms_attr_default(uint64_t type, const uint8_t **val, size_t *len);
/* True for CKO_PUBLIC_KEY, CKO_PRIVATE_KEY and CKO_SECRET_KEY. */
bool kms_attr_is_key_class(unsigned long cls);
/* True for the list attributes of kms11.h (aliases, tags). */
bool kms_attr_is_list(uint64_t type);
/* Whether an object's value (val/len; val NULL when the object lacks the attribute) matches a template
 * value, as C_FindObjects matches: list attributes by one element (kms11.h), others by equal bytes, and
 * an absent management attribute of a key object (is_key) by its default. */
bool kms_attr_matches(uint64_t type, bool is_key, const uint8_t *val, size_t len, const uint8_t *want,
		      size_t wantlen);
/* True when a list value is well formed: NUL-terminated UTF-8-free-of-NUL elements, none empty, none twice. */
bool kms_attr_list_valid(const uint8_t *val, size_t len);

#endif
