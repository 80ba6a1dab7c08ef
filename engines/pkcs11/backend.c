/* SPDX-License-Identifier: Apache-2.0 */
/* The pkcs11 engine's backend: the library loaded once per process, its token found by label or serial, the
 * pool of backend sessions, login with the kms11 PIN or a PIN file, and recovery after the backend was lost. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/pkcs11x.h"
#include "engines/pkcs11/p11.h"

/* CK_INTERFACE of PKCS#11 3.0 (p11-kit 0.24's header predates it). */
struct p11_interface {
	CK_CHAR *name;
	void *functions;
	CK_FLAGS flags;
};
typedef CK_RV (*p11_get_interface_fn)(CK_UTF8CHAR *name, CK_VERSION *version, struct p11_interface **iface,
				      CK_FLAGS flags);

struct p11_lib {
	char *path;
	void *dl;
	CK_FUNCTION_LIST *f;
	unsigned int refs;
	bool owner;  /* kms11's C_Initialize started it: kms11 finalises it */
	pid_t pid;   /* the process that loaded it; another one is a child after fork */
	struct p11_lib *next;
};

static pthread_mutex_t libs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11_lib *libs;

const char *p11_rv_name(CK_RV rv)
{
	switch (rv) {
	case CKR_OK: return "CKR_OK";
	case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
	case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
	case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
	case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
	case CKR_DEVICE_MEMORY: return "CKR_DEVICE_MEMORY";
	case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
	case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
	case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
	case CKR_PIN_LEN_RANGE: return "CKR_PIN_LEN_RANGE";
	case CKR_SESSION_CLOSED: return "CKR_SESSION_CLOSED";
	case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
	case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
	case CKR_TOKEN_NOT_RECOGNIZED: return "CKR_TOKEN_NOT_RECOGNIZED";
	case CKR_SLOT_ID_INVALID: return "CKR_SLOT_ID_INVALID";
	case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
	case CKR_USER_PIN_NOT_INITIALIZED: return "CKR_USER_PIN_NOT_INITIALIZED";
	case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
	case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
	case CKR_OBJECT_HANDLE_INVALID: return "CKR_OBJECT_HANDLE_INVALID";
	case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
	case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
	case CKR_ATTRIBUTE_VALUE_INVALID: return "CKR_ATTRIBUTE_VALUE_INVALID";
	default: return "another code";
	}
}

bool p11_rv_lost(CK_RV rv)
{
	switch (rv) {
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_DEVICE_REMOVED:
	case CKR_DEVICE_ERROR:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SLOT_ID_INVALID:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_USER_NOT_LOGGED_IN:
		return true;
	default:
		return false;
	}
}

/* Loads path and starts it with CKF_OS_LOCKING_OK; a library already started by another user of it in this
 * process (CKR_CRYPTOKI_ALREADY_INITIALIZED) is shared and left to that user to finalise. */
static CK_RV lib_start(struct p11_lib *l, const char *tok)
{
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	p11_get_interface_fn gi;
	CK_C_GetFunctionList gfl;
	struct p11_interface *iface = NULL;
	CK_RV rv;

	l->dl = dlopen(l->path, RTLD_NOW | RTLD_LOCAL);
	if (!l->dl) {
		KMS_ERR("token '%s': cannot load the backend library %s: %s", tok, l->path, dlerror());
		return CKR_GENERAL_ERROR;
	}
	gi = (p11_get_interface_fn)dlsym(l->dl, "C_GetInterface");
	if (gi && gi((CK_UTF8CHAR *)"PKCS 11", NULL, &iface, 0) == CKR_OK && iface && iface->functions)
		l->f = iface->functions;
	if (!l->f) {
		gfl = (CK_C_GetFunctionList)dlsym(l->dl, "C_GetFunctionList");
		if (!gfl || gfl(&l->f) != CKR_OK || !l->f) {
			KMS_ERR("token '%s': %s is not a PKCS#11 library (no C_GetInterface or C_GetFunctionList)", tok,
				l->path);
			return CKR_GENERAL_ERROR;
		}
	}
	rv = l->f->C_Initialize(&args);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		l->owner = false;
		return CKR_OK;
	}
	if (rv != CKR_OK) {
		KMS_ERR("token '%s': the backend library %s failed to start: %s (0x%lx)", tok, l->path, p11_rv_name(rv),
			(unsigned long)rv);
		return CKR_GENERAL_ERROR;
	}
	l->owner = true;
	return CKR_OK;
}

static CK_RV lib_get(const char *path, const char *tok, struct p11_lib **out)
{
	struct p11_lib *l, **pp;
	pid_t pid = getpid();
	bool inherited_owner = false;
	CK_RV rv;

	pthread_mutex_lock(&libs_lock);
	for (pp = &libs; (l = *pp) != NULL;) {
		if (l->pid != pid) {
			/* The parent's: its state belongs to the parent; forget it here. */
			if (!strcmp(l->path, path) && l->owner)
				inherited_owner = true;
			*pp = l->next;
			continue;
		}
		if (!strcmp(l->path, path)) {
			l->refs++;
			pthread_mutex_unlock(&libs_lock);
			*out = l;
			return CKR_OK;
		}
		pp = &l->next;
	}
	l = calloc(1, sizeof(*l));
	if (!l || !(l->path = strdup(path))) {
		free(l);
		pthread_mutex_unlock(&libs_lock);
		return CKR_HOST_MEMORY;
	}
	l->pid = pid;
	l->refs = 1;
	rv = lib_start(l, tok);
	if (rv == CKR_OK && inherited_owner && !l->owner) {
		/* A child after fork: the library still holds the parent's sessions and login. Start it afresh. */
		l->f->C_Finalize(NULL);
		rv = lib_start(l, tok);
	}
	if (rv != CKR_OK) {
		if (l->dl)
			dlclose(l->dl);
		free(l->path);
		free(l);
		pthread_mutex_unlock(&libs_lock);
		return rv;
	}
	l->next = libs;
	libs = l;
	pthread_mutex_unlock(&libs_lock);
	*out = l;
	return CKR_OK;
}

static void lib_put(struct p11_lib *l)
{
	struct p11_lib **pp;

	pthread_mutex_lock(&libs_lock);
	if (--l->refs > 0) {
		pthread_mutex_unlock(&libs_lock);
		return;
	}
	for (pp = &libs; *pp && *pp != l; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = l->next;
	pthread_mutex_unlock(&libs_lock);
	if (l->owner)
		l->f->C_Finalize(NULL);
	/* The library stays mapped: a library's own threads or atexit handlers may still refer to its code. */
	free(l->path);
	free(l);
}

/* A fixed-width, blank-padded PKCS#11 string equals s. */
static bool padded_eq(const CK_UTF8CHAR *field, size_t width, const char *s)
{
	size_t n = strlen(s);

	if (n > width || memcmp(field, s, n) != 0)
		return false;
	for (size_t i = n; i < width; i++)
		if (field[i] != ' ' && field[i] != 0)
			return false;
	return true;
}

/* Finds the backend token by label or serial; CKR_TOKEN_NOT_PRESENT when no slot holds it. */
static CK_RV find_slot(struct p11_inst *in, CK_SLOT_ID *slot)
{
	CK_SLOT_ID *ids = NULL;
	CK_ULONG n = 0;
	CK_RV rv;

	rv = in->f->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv == CKR_OK && n > 0) {
		ids = calloc(n, sizeof(*ids));
		if (!ids)
			return CKR_HOST_MEMORY;
		rv = in->f->C_GetSlotList(CK_TRUE, ids, &n);
	}
	if (rv != CKR_OK) {
		free(ids);
		return rv;
	}
	rv = CKR_TOKEN_NOT_PRESENT;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;

		if (in->f->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		if ((in->backend_label && padded_eq(ti.label, sizeof(ti.label), in->backend_label)) ||
		    (in->backend_serial && padded_eq(ti.serialNumber, sizeof(ti.serialNumber), in->backend_serial))) {
			*slot = ids[i];
			rv = CKR_OK;
			break;
		}
	}
	free(ids);
	return rv;
}

/* The mechanisms kms11 forwards to a backend, and those it builds on one the backend has (hash, then sign). */
static const CK_MECHANISM_TYPE forwarded[] = {
	CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_RSA_PKCS, CKM_RSA_X_509, CKM_SHA1_RSA_PKCS, CKM_SHA224_RSA_PKCS,
	CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_SHA1_RSA_PKCS_PSS,
	CKM_SHA224_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384_RSA_PKCS_PSS, CKM_SHA512_RSA_PKCS_PSS,
	CKM_RSA_PKCS_OAEP, CKM_EC_KEY_PAIR_GEN, CKM_ECDSA, CKM_ECDSA_SHA1, CKM_ECDSA_SHA224, CKM_ECDSA_SHA256,
	CKM_ECDSA_SHA384, CKM_ECDSA_SHA512, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, CKM_AES_KEY_GEN,
	CKM_GENERIC_SECRET_KEY_GEN, CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_CTR, CKM_AES_GCM,
	CKM_AES_CMAC, CKM_SHA_1_HMAC, CKM_SHA224_HMAC, CKM_SHA256_HMAC, CKM_SHA384_HMAC, CKM_SHA512_HMAC,
	CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512, CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD,
	CKM_AES_KEY_WRAP_KWP, CKM_RSA_AES_KEY_WRAP, CKM_ECDH1_DERIVE,
};

/* The backend's mechanisms that kms11 forwards, with the backend's sizes and flags. */
static CK_RV build_mechs(struct p11_inst *in)
{
	size_t n = sizeof(forwarded) / sizeof(forwarded[0]), k = 0;
	CK_MECHANISM_INFO ecdsa;
	bool have_ecdsa;

	free(in->mechs);
	in->mechs = calloc(n, sizeof(*in->mechs));
	in->n_mechs = 0;
	if (!in->mechs)
		return CKR_HOST_MEMORY;
	have_ecdsa = in->f->C_GetMechanismInfo(in->slot, CKM_ECDSA, &ecdsa) == CKR_OK;
	for (size_t i = 0; i < n; i++) {
		CK_MECHANISM_INFO mi;

		if (in->f->C_GetMechanismInfo(in->slot, forwarded[i], &mi) != CKR_OK) {
			/* ECDSA with a hash: offered on the backend's plain CKM_ECDSA (kms11 hashes) */
			if (!p11_hash_of(P11_BY_ECDSA, forwarded[i]) || !have_ecdsa)
				continue;
			mi = ecdsa;
		}
		in->mechs[k].type = forwarded[i];
		in->mechs[k].min_key = mi.ulMinKeySize;
		in->mechs[k].max_key = mi.ulMaxKeySize;
		in->mechs[k].flags = mi.flags & ~(CKF_HW | CKF_SIGN_RECOVER | CKF_VERIFY_RECOVER | CKF_DIGEST |
						  CKF_EXTENSION);
		if (p11_hash_len(forwarded[i]))
			in->mechs[k].flags |= CKF_DIGEST;
		k++;
	}
	in->n_mechs = k;
	return CKR_OK;
}

CK_RV p11_backend_open(struct p11_inst *in)
{
	CK_RV rv = lib_get(in->library, in->label, &in->lib);

	if (rv != CKR_OK)
		return rv;
	in->f = in->lib->f;
	rv = find_slot(in, &in->slot);
	if (rv == CKR_OK) {
		in->have_slot = true;
		return build_mechs(in);
	}
	if (rv == CKR_TOKEN_NOT_PRESENT) {
		KMS_ERR("token '%s': the backend token %s%s is not in any slot of %s", in->label,
			in->backend_label ? "labelled " : "with serial ", in->backend_label ? in->backend_label
											: in->backend_serial,
			in->library);
		return CKR_TOKEN_NOT_PRESENT;
	}
	KMS_ERR("token '%s': listing the slots of %s failed: %s", in->label, in->library, p11_rv_name(rv));
	return CKR_GENERAL_ERROR;
}

bool p11_backend_probe(struct p11_inst *in)
{
	bool have;

	pthread_mutex_lock(&in->lock);
	if (!in->have_slot && in->f && find_slot(in, &in->slot) == CKR_OK) {
		in->have_slot = true;
		in->epoch++;
		if (!in->mechs || in->n_mechs == 0)
			(void)build_mechs(in);
		KMS_INFO("token '%s': the backend token is back", in->label);
	}
	have = in->have_slot;
	pthread_mutex_unlock(&in->lock);
	return have;
}

/* Closes the pooled sessions (caller holds the lock). */
static void pool_drain_locked(struct p11_inst *in)
{
	while (in->npool > 0)
		in->f->C_CloseSession(in->pool[--in->npool]);
}

void p11_backend_close(struct p11_inst *in)
{
	if (!in->lib)
		return;
	pthread_mutex_lock(&in->lock);
	if (in->logged_in && in->npool > 0)
		in->f->C_Logout(in->pool[0]);
	in->logged_in = false;
	pool_drain_locked(in);
	if (in->have_keeper)
		in->f->C_CloseSession(in->keeper);
	in->have_keeper = false;
	kms_secure_free(in->pin);
	in->pin = NULL;
	pthread_mutex_unlock(&in->lock);
	lib_put(in->lib);
	in->lib = NULL;
	in->f = NULL;
}

void p11_backend_forget(struct p11_inst *in)
{
	/* The sessions and the library's state are the parent's: nothing is called; lib_get starts it again. */
	in->npool = 0;
	in->have_keeper = false;
	in->lib = NULL;
	in->f = NULL;
	in->logged_in = false;
}

/* Opens a session on the backend token, logging it in when kms11 is logged in (caller holds the lock). */
static CK_RV session_open_locked(struct p11_inst *in, CK_SESSION_HANDLE *s)
{
	CK_RV rv;

	if (!in->have_slot) {
		rv = find_slot(in, &in->slot);
		if (rv != CKR_OK)
			return rv == CKR_TOKEN_NOT_PRESENT ? CKR_TOKEN_NOT_PRESENT : CKR_DEVICE_ERROR;
		in->have_slot = true;
		in->epoch++;
	}
	rv = in->f->C_OpenSession(in->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s);
	if (rv == CKR_SLOT_ID_INVALID || rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_DEVICE_REMOVED) {
		/* The token may be back in another slot. */
		in->have_slot = false;
		if (find_slot(in, &in->slot) != CKR_OK)
			return CKR_TOKEN_NOT_PRESENT;
		in->have_slot = true;
		in->epoch++;
		rv = in->f->C_OpenSession(in->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s);
	}
	if (rv != CKR_OK) {
		KMS_ERR("token '%s': the backend refused a session: %s", in->label, p11_rv_name(rv));
		return rv;
	}
	if (in->logged_in) {
		rv = in->f->C_Login(*s, CKU_USER, in->pin, in->pinlen);
		if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
			KMS_ERR("token '%s': logging the backend in again failed: %s", in->label, p11_rv_name(rv));
			in->f->C_CloseSession(*s);
			return rv == CKR_PIN_INCORRECT ? CKR_DEVICE_ERROR : rv;
		}
	}
	return CKR_OK;
}

CK_RV p11_session_get(struct p11_inst *in, CK_SESSION_HANDLE *s)
{
	CK_RV rv = CKR_OK;

	pthread_mutex_lock(&in->lock);
	if (!in->f)
		rv = CKR_DEVICE_ERROR;
	else if (in->npool > 0)
		*s = in->pool[--in->npool];
	else
		rv = session_open_locked(in, s);
	pthread_mutex_unlock(&in->lock);
	return rv;
}

void p11_session_put(struct p11_inst *in, CK_SESSION_HANDLE s, CK_RV rv)
{
	pthread_mutex_lock(&in->lock);
	if (p11_rv_lost(rv)) {
		KMS_WARN("token '%s': the backend answered %s: its sessions are opened again", in->label,
			 p11_rv_name(rv));
		in->f->C_CloseSession(s);
		pool_drain_locked(in);
		if (rv != CKR_SESSION_HANDLE_INVALID && rv != CKR_SESSION_CLOSED && rv != CKR_USER_NOT_LOGGED_IN)
			in->have_slot = false;
		in->epoch++;
	} else if (in->npool < in->cap) {
		in->pool[in->npool++] = s;
	} else {
		CK_SESSION_HANDLE *p = realloc(in->pool, (in->cap * 2 + 4) * sizeof(*p));

		if (p) {
			in->pool = p;
			in->cap = in->cap * 2 + 4;
			in->pool[in->npool++] = s;
		} else {
			in->f->C_CloseSession(s);
		}
	}
	pthread_mutex_unlock(&in->lock);
}

/* Reads the backend PIN from pin_file: the file must belong to this user and be closed to others. */
static CK_RV read_pin_file(struct p11_inst *in, uint8_t **pin, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	int fd = open(in->pin_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		KMS_ERR("token '%s': cannot open the backend PIN file %s: %s", in->label, in->pin_file, strerror(errno));
		return CKR_GENERAL_ERROR;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
		KMS_ERR("token '%s': the backend PIN file %s must be a regular file of this user with mode 0600 "
			"(it has mode %04o)", in->label, in->pin_file, (unsigned int)(st.st_mode & 07777));
		close(fd);
		return CKR_GENERAL_ERROR;
	}
	buf = kms_secure_alloc(256);
	if (!buf) {
		close(fd);
		return CKR_HOST_MEMORY;
	}
	n = read(fd, buf, 256);
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n <= 0 || n >= 256) {
		KMS_ERR("token '%s': the backend PIN file %s is empty or longer than 255 bytes", in->label, in->pin_file);
		kms_secure_free(buf);
		return CKR_GENERAL_ERROR;
	}
	*pin = buf;
	*len = (size_t)n;
	return CKR_OK;
}

CK_RV p11_login(void *inst, const char *pin, size_t len)
{
	struct p11_inst *in = inst;
	CK_SESSION_HANDLE s;
	uint8_t *bpin = NULL;
	size_t blen = 0;
	CK_RV rv;

	if (in->pin_file) {
		rv = read_pin_file(in, &bpin, &blen);
	} else {
		bpin = kms_secure_alloc(len + 1);
		if (bpin && len)
			memcpy(bpin, pin, len);
		blen = len;
		rv = bpin ? CKR_OK : CKR_HOST_MEMORY;
	}
	if (rv != CKR_OK)
		return rv;
	rv = p11_session_get(in, &s);
	if (rv != CKR_OK) {
		kms_secure_free(bpin);
		KMS_ERR("token '%s': the backend token cannot be reached to log in: %s", in->label, p11_rv_name(rv));
		return rv == CKR_TOKEN_NOT_PRESENT ? CKR_TOKEN_NOT_PRESENT : CKR_DEVICE_ERROR;
	}
	rv = in->f->C_Login(s, CKU_USER, bpin, blen);
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		rv = CKR_OK;
	p11_session_put(in, s, rv == CKR_OK ? CKR_OK : (p11_rv_lost(rv) ? rv : CKR_OK));
	if (rv != CKR_OK) {
		kms_secure_free(bpin);
		KMS_ERR("token '%s': the backend token refused its login: %s%s", in->label, p11_rv_name(rv),
			rv == CKR_PIN_INCORRECT ? (in->pin_file ? " (the PIN in the backend PIN file is wrong)"
							   : " (the backend's PIN differs from the kms11 PIN)")
						: "");
		/* CKR_PIN_INCORRECT and CKR_PIN_LOCKED belong to kms11's own PIN, which was right. */
		return (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_EXPIRED) ? CKR_DEVICE_ERROR : rv;
	}
	pthread_mutex_lock(&in->lock);
	kms_secure_free(in->pin);
	in->pin = bpin;
	in->pinlen = blen;
	in->logged_in = true;
	pthread_mutex_unlock(&in->lock);
	return CKR_OK;
}

void p11_logout(void *inst)
{
	struct p11_inst *in = inst;

	pthread_mutex_lock(&in->lock);
	if (in->logged_in && in->f && in->have_slot) {
		CK_SESSION_HANDLE s;

		if (in->npool > 0) {
			in->f->C_Logout(in->pool[0]);
		} else if (in->f->C_OpenSession(in->slot, CKF_SERIAL_SESSION, NULL, NULL, &s) == CKR_OK) {
			in->f->C_Logout(s);
			in->f->C_CloseSession(s);
		}
	}
	in->logged_in = false;
	if (in->pin)
		kms_secure_free(in->pin);
	in->pin = NULL;
	in->pinlen = 0;
	pthread_mutex_unlock(&in->lock);
}

CK_RV p11_set_pin(void *inst, const char *old, size_t oldlen, const char *pin, size_t len)
{
	struct p11_inst *in = inst;
	CK_SESSION_HANDLE s;
	uint8_t *copy;
	CK_RV rv;

	if (in->pin_file)
		return CKR_OK; /* the backend's PIN is the file's, not kms11's */
	rv = p11_session_get(in, &s);
	if (rv != CKR_OK)
		return rv == CKR_TOKEN_NOT_PRESENT ? CKR_TOKEN_NOT_PRESENT : CKR_DEVICE_ERROR;
	rv = in->f->C_SetPIN(s, (CK_UTF8CHAR_PTR)old, oldlen, (CK_UTF8CHAR_PTR)pin, len);
	p11_session_put(in, s, rv);
	if (rv != CKR_OK) {
		KMS_ERR("token '%s': the backend token did not change its PIN: %s%s", in->label, p11_rv_name(rv),
			rv == CKR_PIN_INCORRECT ? " (the backend's PIN differs from the kms11 PIN)" : "");
		return rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_INVALID ? rv : CKR_DEVICE_ERROR;
	}
	copy = kms_secure_alloc(len + 1);
	pthread_mutex_lock(&in->lock);
	if (in->logged_in && copy) {
		memcpy(copy, pin, len);
		kms_secure_free(in->pin);
		in->pin = copy;
		in->pinlen = len;
		copy = NULL;
	}
	pthread_mutex_unlock(&in->lock);
	kms_secure_free(copy);
	return CKR_OK;
}

/*
 * A backend session object lives as long as the backend session that made it. Operations' sessions are closed
 * when an operation is left half-done (PKCS#11 2.40 has no other way to end it), so session keys are made in a
 * keeper session of their own, which no operation uses and which stays open until the backend is lost or the
 * engine stops. Its lock keeps it to one call at a time.
 */
CK_RV p11_maker_get(struct p11_inst *in, bool token, CK_SESSION_HANDLE *s)
{
	CK_RV rv = CKR_OK;

	if (token)
		return p11_session_get(in, s);
	pthread_mutex_lock(&in->keeper_lock);
	pthread_mutex_lock(&in->lock);
	if (!in->f)
		rv = CKR_DEVICE_ERROR;
	else if (!in->have_keeper && (rv = session_open_locked(in, &in->keeper)) == CKR_OK)
		in->have_keeper = true;
	*s = in->keeper;
	pthread_mutex_unlock(&in->lock);
	if (rv != CKR_OK)
		pthread_mutex_unlock(&in->keeper_lock);
	return rv;
}

void p11_maker_put(struct p11_inst *in, bool token, CK_SESSION_HANDLE s, CK_RV rv)
{
	if (token) {
		p11_session_put(in, s, rv);
		return;
	}
	if (p11_rv_lost(rv)) {
		pthread_mutex_lock(&in->lock);
		in->f->C_CloseSession(s);
		in->have_keeper = false;
		pthread_mutex_unlock(&in->lock);
	}
	pthread_mutex_unlock(&in->keeper_lock);
}
