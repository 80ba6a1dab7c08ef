/* SPDX-License-Identifier: Apache-2.0 */
/* pkcs11: URIs (RFC 7512): parsing, formatting and matching, on top of p11-kit's P11KitUri. */
#ifndef KMS_CORE_URI_H
#define KMS_CORE_URI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

/* A parsed URI. Absent fields are NULL / has_* false. Strings are NUL-terminated. */
struct kms_uri {
	/* token attributes */
	char *token, *manufacturer, *serial, *model;
	/* library attributes */
	char *library_manufacturer, *library_description;
	bool has_library_version;
	CK_VERSION library_version;
	/* slot */
	bool has_slot_id;
	CK_SLOT_ID slot_id;
	char *slot_description, *slot_manufacturer;
	/* object attributes */
	char *object;      /* CKA_LABEL */
	uint8_t *id;       /* CKA_ID bytes */
	size_t id_len;
	bool has_id;
	bool has_type;
	CK_OBJECT_CLASS type; /* private, public, secret-key, cert, data */
	/* query attributes */
	char *pin_value, *pin_source, *module_name, *module_path;
};

/* Parses s into u (zeroed first); CKR_ARGUMENTS_BAD on a malformed URI or an unknown
 * non-vendor path attribute, with a message naming the problem in *err (static string, may be NULL). */
CK_RV kms_uri_parse(const char *s, struct kms_uri *u, const char **err);
/* Frees the fields of u (wiping pin_value). */
void kms_uri_clear(struct kms_uri *u);
/* Formats the canonical key URI: pkcs11:token=<t>;object=<label>;id=<%XX id>;type=<type>
 * with RFC 7512 percent-encoding; omits object/id when NULL. Returns a malloc'd string or NULL. */
char *kms_uri_format_key(const char *token, const char *label, const uint8_t *id, size_t id_len,
			 CK_OBJECT_CLASS cls);
/* Formats any parsed URI back (all present attributes); malloc'd string or NULL. */
char *kms_uri_format(const struct kms_uri *u);
/* Returns true when the token info matches the URI's token attributes (absent ones match). */
bool kms_uri_match_token(const struct kms_uri *u, const CK_TOKEN_INFO *ti);

#endif
