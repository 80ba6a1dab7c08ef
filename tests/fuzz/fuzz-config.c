/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the configuration loader (module/core/config.c), fed through a memory file. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "module/core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct kms_conf c;
	char err[512];

	if (fd < 0) {
		fd = memfd_create("kms11-fuzz.conf", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		setenv("HOME", "/nonexistent", 1);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (kms_conf_load_file(&c, path, err, sizeof(err)) == 0) {
		if (c.n_tokens == 0 || !c.store_dir)
			abort();
		kms_conf_free(&c);
	} else if (!err[0]) {
		abort(); /* a refusal always says why */
	}
	return 0;
}
