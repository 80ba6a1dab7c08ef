/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms11.h: the vendor attributes through which libkms11.so shows its key management facts to every
 * PKCS#11 application.
 *
 * Every key object (CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKO_SECRET_KEY) has these attributes; the objects
 * of one key (the public and private halves of a key pair, and each of its versions) share the key id
 * and carry the same name, aliases, tags, metadata, description and lifecycle facts. Read them with
 * C_GetAttributeValue. A key that never had one of them answers its default, given below.
 *
 * Encodings:
 *   string   UTF-8 bytes, no terminating NUL.
 *   list     the elements, each as UTF-8 bytes followed by one NUL byte ("a\0b\0"); an empty list has
 *            length 0. Elements are unique and kept in the order they were given.
 *   date     a string "YYYY-MM-DDTHH:MM:SSZ" (ISO 8601, UTC, 20 bytes); length 0 when there is none.
 *   ulong    a CK_ULONG.
 *   bool     a CK_BBOOL.
 *
 * C_FindObjects: a template value for a list attribute is ONE element (its bytes, with or without the
 * trailing NUL); an object matches when one of its elements equals it. A template with an empty value
 * matches objects whose list is empty. Every other attribute matches on equal bytes, a missing one by
 * its default.
 *
 * Who may change what: aliases, tags, metadata and the description may be given to C_CreateObject,
 * C_GenerateKey(Pair) and C_SetAttributeValue. The key id, engine, state, version, primary flag,
 * rotation and every date are set by kms11 only: a template holding one answers
 * CKR_ATTRIBUTE_READ_ONLY. Use the kms11 command (or its library) for lifecycle changes.
 *
 * Lifecycle, enforced for every application when an operation starts:
 *   a key whose state is not KMS11_STATE_ENABLED refuses every use (CKR_KEY_FUNCTION_NOT_PERMITTED);
 *   a key past its expiration date refuses signing, encryption, wrapping and derivation with the same
 *   code, and still verifies, decrypts and unwraps (NIST SP 800-57: the originator-usage period has
 *   ended, the recipient-usage period has not);
 *   so do the objects of a rotated key's older versions (CKA_KMS11_PRIMARY false).
 *
 * Versions: rotating a key makes a new object set (the new primary version) under the same key id, name,
 * aliases, tags and metadata. The objects of older versions keep their CKA_KMS11_VERSION and get the label
 * "<name>#v<version>", so that a label (pkcs11:object=<name>) finds the primary version only; an older version
 * is found by its label, or by the key id with CKA_KMS11_VERSION.
 */
#ifndef KMS11_H
#define KMS11_H

/* CKA_VENDOR_DEFINED | "KM" << 16 | n */
#define CKA_KMS11_BASE (0x80000000UL | 0x4b4d0000UL)

#define CKA_KMS11_KEY_ID (CKA_KMS11_BASE + 0x01)          /* string: the key id (lower-case hex); read-only */
#define CKA_KMS11_ENGINE (CKA_KMS11_BASE + 0x02)          /* string: the engine holding the key; read-only */
#define CKA_KMS11_CREATED (CKA_KMS11_BASE + 0x03)         /* date: creation time of this object; read-only */
#define CKA_KMS11_ALIASES (CKA_KMS11_BASE + 0x04)         /* list: aliases, unique across the store; default empty */
#define CKA_KMS11_TAGS (CKA_KMS11_BASE + 0x05)            /* list: tags; default empty */
#define CKA_KMS11_METADATA (CKA_KMS11_BASE + 0x06)        /* string: a JSON object; default "{}" */
#define CKA_KMS11_STATE (CKA_KMS11_BASE + 0x07)           /* ulong: KMS11_STATE_*; default enabled; read-only */
#define CKA_KMS11_VERSION (CKA_KMS11_BASE + 0x08)         /* ulong: this object's key version; default 1; read-only */
#define CKA_KMS11_DESCRIPTION (CKA_KMS11_BASE + 0x09)     /* string; default empty */
#define CKA_KMS11_ROTATION_DAYS (CKA_KMS11_BASE + 0x0a)   /* ulong: automatic rotation period, 0 = off; read-only */
#define CKA_KMS11_NEXT_ROTATION (CKA_KMS11_BASE + 0x0b)   /* date: when automatic rotation is due; read-only */
#define CKA_KMS11_DELETION_DATE (CKA_KMS11_BASE + 0x0c)   /* date: when a pending deletion happens; read-only */
#define CKA_KMS11_EXPIRATION_DATE (CKA_KMS11_BASE + 0x0d) /* date: end of the originator-usage period; read-only */
#define CKA_KMS11_PRIMARY (CKA_KMS11_BASE + 0x0e)         /* bool: this object is of the primary version; default
							     true; read-only */

/* CKA_KMS11_STATE values. */
#define KMS11_STATE_ENABLED 1UL
#define KMS11_STATE_DISABLED 2UL
#define KMS11_STATE_PENDING_DELETION 3UL

#endif
