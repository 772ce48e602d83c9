// SPDX-License-Identifier: MIT
/*
 * AIO contexts (io_setup(2)): the ring the kernel maps into the process
 * ("/[aio]") is its context id. Dumped as CRIU does: an aio_ring_entry in
 * mm.img (id = the ring's address, the ring's length, the nr_events that
 * makes a ring of that length) and the VMA with VMA_AREA_AIORING, no pages.
 * Only an empty ring is kept (head == tail: every completion reaped): a
 * new context remapped over the old address is then the same to the
 * process. Completions not reaped yet are refused, named. A request still
 * in flight is not visible from outside (nor to CRIU): see coverage.md.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define LOG_PREFIX "mm: "
#include "dump_mm.h"
#include "log.h"

#include "mm.pb-c.h"

/* The kernel's struct aio_ring (fs/aio.c), the head of the ring's first page. */
struct kaio_ring {
	uint32_t id, nr, head, tail, magic, compat_features, incompat_features, header_length;
};
#define KAIO_RING_MAGIC 0xa10a10a1u
#define KAIO_EVENT_SIZE 32u /* struct io_event */

int dump_aio_check(pid_t pid, uint64_t start, uint64_t end)
{
	struct kaio_ring ring;
	struct iovec l = { &ring, sizeof(ring) }, r = { (void *)(uintptr_t)start, sizeof(ring) };
	uint64_t nr = (end - start - sizeof(ring)) / KAIO_EVENT_SIZE;

	if (process_vm_readv(pid, &l, 1, &r, 1, 0) != (ssize_t)sizeof(ring)) {
		int err = -errno;

		pr_errno(err, "pid %d: cannot read the AIO ring at %#llx", pid,
			 (unsigned long long)start);
		return err;
	}
	if (ring.magic != KAIO_RING_MAGIC || ring.header_length != sizeof(ring) || ring.nr != nr ||
	    ring.incompat_features) {
		pr_err("pid %d: VMA %#llx-%#llx is an AIO ring ferry does not know (magic %#x, nr "
		       "%u, header %u); not supported",
		       pid, (unsigned long long)start, (unsigned long long)end, ring.magic, ring.nr,
		       ring.header_length);
		return -ENOTSUP;
	}
	if (ring.head != ring.tail) {
		pr_err("pid %d: AIO context %#llx holds completed events not reaped yet (head %u, "
		       "tail %u); not supported",
		       pid, (unsigned long long)start, ring.head, ring.tail);
		return -ENOTSUP;
	}
	return 0;
}

uint32_t dump_aio_nr_req(uint64_t ring_len)
{
	/*
	 * io_setup(n) makes room for max(n, 4 * CPUs) * 2 + 2 events, rounded up
	 * to whole pages: the n that gives back this ring is (events - 2) / 2.
	 */
	uint64_t events = (ring_len - sizeof(struct kaio_ring)) / KAIO_EVENT_SIZE;

	return events > 2 ? (uint32_t)((events - 2) / 2) : 0;
}
