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
#define KMS_MEM_SECHEAP 2u

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
 * Where a block lives:
 * - small blocks (under half a page) come from OpenSSL's secure heap when the process has one (the
 *   openssl engine sets one up): locked, excluded from core dumps, and wiped by OpenSSL on free;
 * - otherwise, and when the secure heap is full or absent, the block gets whole pages of its own from
 *   mmap: locked (best effort: EPERM and RLIMIT_MEMLOCK are ignored), MADV_DONTDUMP, and unlocked
 *   and unmapped on free. Heap pages are never locked: they are not ours.
 */
void *kms_secure_alloc(size_t n)
{
	union kms_mem_hdr *hdr = NULL;
	size_t page = kms_mem_page();
	size_t total;
	unsigned int flags = 0;

	if (n > SIZE_MAX - sizeof(*hdr) - page)
		return NULL;
	total = sizeof(*hdr) + n;
	if (total < page / 2 && CRYPTO_secure_malloc_initialized()) {
		hdr = CRYPTO_secure_zalloc(total, OPENSSL_FILE, OPENSSL_LINE);
		flags = KMS_MEM_SECHEAP;
	}
	if (hdr == NULL) {
		void *m;

		total = (total + page - 1) & ~(page - 1);
		m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		hdr = m;
		flags = KMS_MEM_MMAP;
		(void)madvise(m, total, MADV_DONTDUMP);
		(void)mlock(m, total);
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
	CRYPTO_secure_clear_free(hdr, total, OPENSSL_FILE, OPENSSL_LINE);
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
