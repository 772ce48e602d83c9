// SPDX-License-Identifier: MIT
/*
 * Remote calls into a process under restore (see rtask.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "rsys.h"
#include "rtask.h"

int rt_call(struct rtask *t, pid_t tid, const char *what, long *ret, long nr, uint64_t a0,
	    uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	struct rsys r;
	long v = 0;
	int err;

	err = rsys_prepare_at(&r, tid, t->pid, t->scratch);
	if (err)
		return err;
	err = rsys_call(&r, &v, nr, a0, a1, a2, a3, a4, a5);
	rsys_finish(&r);
	if (err) {
		pr_err("pid %d thread %d: could not run %s", t->pid, tid, what);
		return err;
	}
	if (v < 0 && v > -4096) {
		pr_err("pid %d thread %d: %s failed: %s", t->pid, tid, what, strerror((int)-v));
		return (int)v;
	}
	if (ret)
		*ret = v;
	return 0;
}

int rt_put(struct rtask *t, size_t off, const void *buf, size_t len)
{
	struct iovec l = { (void *)buf, len }, rv = { (void *)rt_data(t, off), len };
	ssize_t n;

	if (off + len > RT_DATA_SIZE)
		return -E2BIG;
	n = process_vm_writev(t->pid, &l, 1, &rv, 1, 0);
	if (n != (ssize_t)len) {
		int err = n < 0 ? -errno : -EIO;

		pr_errno(err, "pid %d: cannot write %zu bytes to the scratch page at %#lx", t->pid,
			 len, (unsigned long)rt_data(t, off));
		return err;
	}
	return 0;
}
