/* SPDX-License-Identifier: Apache-2.0 */
/* Memory for secrets: wiping, and locked, non-dumpable allocations with a size header. */
#include "common/mem.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define KMS_MEM_MAGIC 0x6b6d7331u /* "kms1" */
#define KMS_MEM_MMAP 1u

/*
 * Every block starts with this header; the user pointer follows it. The union
 * keeps the user pointer aligned for any type.
 */
union kms_mem_hdr {
	struct {
		size_t size;  /* bytes the caller asked for */
		size_t total; /* bytes obtained from malloc or mmap, header included */
		uint32_t magic;
		uint32_t flags;
	} h;
	max_align_t align;
	unsigned char pad[32];
};

static size_t kms_mem_page(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (size_t)ps : 4096;
}

void kms_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

/*
 * Small blocks come from the heap and share pages with other data. Their pages
 * are locked but never unlocked on free: mlock does not nest, so munlock could
 * unlock a page that still holds another secret. Locking is best effort; EPERM
 * and ENOMEM (RLIMIT_MEMLOCK) are ignored.
 */
static void kms_mem_lock_span(void *p, size_t n)
{
	uintptr_t ps = (uintptr_t)kms_mem_page();
	uintptr_t lo = (uintptr_t)p & ~(ps - 1);
	uintptr_t hi = ((uintptr_t)p + n + ps - 1) & ~(ps - 1);

	(void)mlock((void *)lo, hi - lo);
}

void *kms_secure_alloc(size_t n)
{
	union kms_mem_hdr *hdr;
	size_t page = kms_mem_page();
	size_t total;
	unsigned int flags = 0;

	if (n > SIZE_MAX - sizeof(*hdr) - page)
		return NULL;
	total = sizeof(*hdr) + n;
	if (total >= page / 2) {
		/* Round up to whole pages: the block owns its pages, so it can be
		 * locked, marked non-dumpable and unlocked on free without
		 * touching anything else. */
		total = (total + page - 1) & ~(page - 1);
		void *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		hdr = m;
		flags = KMS_MEM_MMAP;
		(void)madvise(m, total, MADV_DONTDUMP);
		(void)mlock(m, total);
	} else {
		hdr = calloc(1, total);
		if (hdr == NULL)
			return NULL;
		kms_mem_lock_span(hdr, total);
	}
	hdr->h.size = n;
	hdr->h.total = total;
	hdr->h.magic = KMS_MEM_MAGIC;
	hdr->h.flags = flags;
	return hdr + 1;
}

void kms_secure_free(void *p)
{
	union kms_mem_hdr *hdr;
	size_t total;
	uint32_t flags;

	if (p == NULL)
		return;
	hdr = (union kms_mem_hdr *)p - 1;
	if (hdr->h.magic != KMS_MEM_MAGIC)
		return; /* not ours: leaking beats corrupting the heap */
	total = hdr->h.total;
	flags = hdr->h.flags;
	OPENSSL_cleanse(hdr, total);
	if (flags & KMS_MEM_MMAP) {
		(void)munlock(hdr, total);
		(void)munmap(hdr, total);
		return;
	}
	free(hdr);
}

void *kms_secure_dup(const void *p, size_t n)
{
	void *q = kms_secure_alloc(n);

	if (q != NULL && n > 0)
		memcpy(q, p, n);
	return q;
}

void kms_free_wiped(void *p, size_t n)
{
	if (p == NULL)
		return;
	if (n > 0)
		OPENSSL_cleanse(p, n);
	free(p);
}
