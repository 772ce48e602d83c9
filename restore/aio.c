// SPDX-License-Identifier: MIT
/*
 * AIO contexts made again (see aio.h).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define LOG_PREFIX "restore: "
#include "aio.h"
#include "log.h"
#include "vma_status.h"

#define AIO_NR_MAX (1u << 20)

static const VmaEntry *ring_vma(const MmEntry *mm, uint64_t id)
{
	for (size_t i = 0; i < mm->n_vmas; i++)
		if (mm->vmas[i]->start == id && (mm->vmas[i]->status & VMA_AREA_AIORING))
			return mm->vmas[i];
	return NULL;
}

int rimg_check_aios(const char *dir, const char *name, const struct rimg_proc *p)
{
	const MmEntry *mm = p->mm;
	size_t rings = 0;

	for (size_t i = 0; i < mm->n_vmas; i++)
		rings += !!(mm->vmas[i]->status & VMA_AREA_AIORING);
	for (size_t i = 0; i < mm->n_aios; i++) {
		const AioRingEntry *a = mm->aios[i];
		const VmaEntry *v = ring_vma(mm, a->id);

		if (!v || v->end - v->start != a->ring_len || !a->nr_req ||
		    a->nr_req > AIO_NR_MAX || !(v->status & VMA_ANON_PRIVATE)) {
			pr_err("%s/%s: offset 8: pid %d: AIO ring %zu (ctx %#llx, %u bytes, %u events) "
			       "is on no private VMA of status AIORING of that length, or asks for "
			       "no events or too many",
			       dir, name, p->pid, i, (unsigned long long)a->id, a->ring_len,
			       a->nr_req);
			return -EINVAL;
		}
	}
	if (rings != mm->n_aios) {
		pr_err("%s/%s: offset 8: pid %d: %zu VMAs of status AIORING for %zu AIO rings", dir,
		       name, p->pid, rings, mm->n_aios);
		return -EINVAL;
	}
	return 0;
}

int raio_restore(struct rtask *t)
{
	const MmEntry *mm = t->ip->mm;
	int err = 0;

	for (size_t i = 0; i < mm->n_aios && !err; i++) {
		const AioRingEntry *a = mm->aios[i];
		uint64_t ctx = 0;
		struct iovec l = { &ctx, sizeof(ctx) }, r = { (void *)(uintptr_t)rt_data(t, 0), 8 };
		long moved = 0;

		err = rt_put(t, 0, &ctx, sizeof(ctx));
		if (!err)
			err = rt_call(t, t->pid, "io_setup", NULL, SYS_io_setup, a->nr_req,
				      rt_data(t, 0), 0, 0, 0, 0);
		if (!err && process_vm_readv(t->pid, &l, 1, &r, 1, 0) != sizeof(ctx))
			err = -errno;
		/* Over the placeholder VMA: the same length, or mremap refuses. */
		if (!err)
			err = rt_call(t, t->pid, "mremap(AIO ring)", &moved, SYS_mremap, ctx,
				      a->ring_len, a->ring_len, MREMAP_MAYMOVE | MREMAP_FIXED,
				      a->id, 0);
		if (!err && (uint64_t)moved != a->id)
			err = -EFAULT;
		if (err)
			pr_errno(err, "pid %d: cannot make AIO context %#llx (%u events) again",
				 t->pid, (unsigned long long)a->id, a->nr_req);
		else
			pr_debug("pid %d: AIO context %#llx made again (was %#llx)", t->pid,
				 (unsigned long long)a->id, (unsigned long long)ctx);
	}
	return err;
}
