/* SPDX-License-Identifier: MIT */
/*
 * Background snapshot (QEMU's background-snapshot, for `dump --leave-running`):
 * the memory of a process is write-protected with a synchronous userfaultfd
 * while the tree is frozen, the tree is released at once, and its pages are
 * copied while it runs. A thread that writes a page not copied yet blocks in
 * a write-protect fault; ferry's fault thread copies that page first (into
 * its own memory), then lifts the protection and wakes it. The copy walks the
 * pages in address order: each chunk is read while still protected, pages
 * the fault thread took first are put in from its copies, then the chunk's
 * protection is lifted. So every page written to the images is the page at
 * the freeze.
 *
 * The userfaultfd is made by the target (a remote syscall, without
 * UFFD_USER_MODE_ONLY: a write the kernel makes for the target, as read(2)
 * into a protected buffer or rseq's cpu id, must wait too, not fail), taken
 * with pidfd_getfd and closed in the target at once: ferry holds the only
 * reference. If ferry dies, the kernel releases the userfaultfd
 * (userfaultfd_release): it wakes every blocked thread and lifts the
 * protection of every page (test bgsnap/ferry_killed_mid_copy).
 *
 * Memory a synchronous uffd-wp cannot cover (private file mappings: the
 * kernel allows them for async uffd-wp only) is copied into ferry's memory
 * while the tree is frozen, and written from there in its place.
 *
 * A process that unmaps, moves or drops (MADV_DONTNEED) memory not copied yet
 * would take it from the snapshot without a fault: the userfaultfd reports
 * those as events (REMOVE, UNMAP, REMAP) and the snapshot is then marked
 * spoiled (bgsnap_stats.spoiled): the dump is taken again, frozen.
 *
 * Not thread-safe: one thread adds processes, starts, writes and destroys;
 * the fault thread is internal.
 */
#ifndef FERRY_BGSNAP_H
#define FERRY_BGSNAP_H

#include <stdint.h>
#include <sys/types.h>

#include "dump_mm.h"
#include "page_writer.h"

struct bgsnap;
struct bgsnap_proc;

struct bgsnap_stats {
	uint64_t procs;		 /* processes copied in the background */
	uint64_t pages_wp;	 /* pages write-protected at the freeze */
	uint64_t pages_presaved; /* pages copied while frozen (uffd-wp cannot cover them) */
	uint64_t faults;	 /* write-protect faults served */
	uint64_t pages_first;	 /* ... of which the page was copied first, then released */
	uint64_t fault_ns_sum, fault_ns_max; /* from reading the fault to the wake */
	uint64_t events;		     /* REMOVE/UNMAP/REMAP events read */
	uint64_t store_bytes;		     /* ferry memory that held pages copied ahead */
	int spoiled; /* memory not copied yet was unmapped, moved or dropped */
};

/* bgsnap_create - an empty snapshot for at most @max_procs processes. 0 or -ENOMEM. */
int bgsnap_create(struct bgsnap **out, size_t max_procs);

/*
 * bgsnap_add_proc - the frozen process @pid joins the snapshot with its
 * @plan (dump_mm_proc's deferred plan; it must stay valid until
 * bgsnap_destroy): a userfaultfd made in the target, its private anonymous
 * VMAs registered for write-protection, the plan's pages there
 * write-protected, the plan's other pages copied now. Returns 0 with *@out
 * set; -EOPNOTSUPP if this process must be copied while frozen (no
 * synchronous uffd-wp here, not allowed to make one, a VMA that has a
 * userfaultfd already: the reason is logged); another -errno for a failure
 * (the process is left as it was).
 */
int bgsnap_add_proc(struct bgsnap *b, pid_t pid, const struct dump_mm_plan *plan,
		    struct bgsnap_proc **out);

/* bgsnap_start - start the fault thread; before the tree is released. 0 or -errno. */
int bgsnap_start(struct bgsnap *b);

/*
 * bgsnap_hook - the page writer hook (page_writer_opts.hook) that writes the
 * pages of @p as they were at the freeze; fills *@h.
 */
void bgsnap_hook(struct bgsnap_proc *p, struct page_writer_hook *h);

/*
 * bgsnap_destroy - stop the fault thread, read the events still queued,
 * lift every protection left and close the userfaultfds (which wakes
 * whatever still waits), free. *@st (may be NULL) gets the counters, and
 * whether the snapshot was spoiled: an unmap or mremap is reported only after
 * it happened, so only this last word on it is sure. NULL is accepted. Returns the first error the
 * fault thread met (0 if none).
 */
int bgsnap_destroy(struct bgsnap *b, struct bgsnap_stats *st);

#endif
