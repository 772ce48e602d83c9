// SPDX-License-Identifier: MIT
/*
 * The page writer's buffer sets (struct page_buffers, see page_writer.h):
 * the buffers and the ring registered with io_uring, the registered file
 * table and the accounting of early writeback requests, which may complete
 * after their writer has ended and are then reaped and counted by the set for
 * whoever uses the ring next. Also the lending of a set to a writer: taken at
 * open (or created for it), its pages file installed in a free file slot,
 * given back at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "page_writer: "
#include "log.h"
#include "util.h"
#include "page_writer_priv.h"

/* ---- buffer sets ---------------------------------------------------------------------------- */

/* The buffer geometry of @opts (NULL: defaults), checked against the limits. */
int pb_geometry(const struct page_writer_opts *opts, unsigned *nr_bufs, size_t *buf_size)
{
	*nr_bufs = opts && opts->nr_bufs ? opts->nr_bufs : PAGE_WRITER_NR_BUFS;
	*buf_size = opts && opts->buf_size ? opts->buf_size : PAGE_WRITER_BUF_SIZE;
	if (*nr_bufs > PW_MAX_BUFS || *buf_size > PW_MAX_BUF_SIZE || *buf_size % PW_PAGE_SIZE)
		return -EINVAL;
	return 0;
}

/* Remove the file of @slot from the registered table (it holds a reference to it). */
static void pb_slot_clear(struct page_buffers *pb, unsigned slot)
{
	int fd = -1, ret;

	if (!pb->slot_file[slot])
		return;
	ret = io_uring_register_files_update(&pb->ring, slot, &fd, 1);
	if (ret != 1) {
		/* Harmless: the next writer of the slot or the teardown replaces it. */
		pr_debug("cannot clear registered file slot %u: %s", slot,
			 strerror(ret < 0 ? -ret : EIO));
		return;
	}
	pb->slot_file[slot] = 0;
}

/* A writeback request (tag PW_TAG_WB | slot) completed with @res. */
int pb_wb_done(struct page_buffers *pb, uint64_t tag, int res)
{
	uint64_t slot = tag & ~PW_TAG_WB;

	if (slot >= PB_SLOTS || !pb->slot_wb[slot]) {
		pr_err("stray writeback completion for registered file slot %llu",
		       (unsigned long long)slot);
		pb->broken = 1;
		return -EIO;
	}
	pb->slot_wb[slot]--;
	pb->wb_pending--;
	pb->st.wb_done++;
	if (res < 0) {
		pb->st.wb_failed++;
		pr_debug("early writeback of %s.tmp (file slot %llu): %s", pb->slot_name[slot],
			 (unsigned long long)slot, strerror(-res));
	}
	if (pb->active_slot != (int)slot) {
		/* Its writer has ended: its file leaves the table with its last request. */
		pb->st.wb_late++;
		if (!pb->slot_wb[slot])
			pb_slot_clear(pb, (unsigned)slot);
	}
	return 0;
}

/*
 * Consume the completions that are ready while no write is in flight: they
 * can only be writeback requests of earlier writers.
 */
static int pb_reap_ready(struct page_buffers *pb)
{
	struct io_uring_cqe *cqe;
	uint64_t tag;
	int res, err = 0;

	while (!pb->broken && !io_uring_peek_cqe(&pb->ring, &cqe)) {
		tag = io_uring_cqe_get_data64(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&pb->ring, cqe);
		if (!(tag & PW_TAG_WB)) {
			pr_err("stray io_uring completion %llu with no writer",
			       (unsigned long long)tag);
			pb->broken = 1;
			return -EIO;
		}
		err = pb_wb_done(pb, tag, res);
	}
	return err;
}

int page_buffers_create(struct page_buffers **out, const struct page_writer_opts *opts)
{
	struct page_buffers *pb;
	struct iovec *iov = NULL;
	int files[PB_SLOTS];
	unsigned i;
	int err;

	pb = calloc(1, sizeof(*pb));
	if (!pb)
		return -ENOMEM;
	pb->active_slot = -1;
	err = pb_geometry(opts, &pb->nr_bufs, &pb->buf_size);
	if (err) {
		pr_err("bad buffer set: %u x %zu bytes", pb->nr_bufs, pb->buf_size);
		goto fail;
	}
	pb->mem_len = (size_t)pb->nr_bufs * pb->buf_size;
	/* Small pages: huge ones were measured slower to get (compaction). */
	pb->mem =
		mmap(NULL, pb->mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pb->mem == MAP_FAILED) {
		pb->mem = NULL;
		err = -errno;
		pr_perror("cannot map %zu bytes of page buffers", pb->mem_len);
		goto fail;
	}
	iov = calloc(pb->nr_bufs, sizeof(*iov));
	if (!iov) {
		err = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < pb->nr_bufs; i++) {
		iov[i].iov_base = pb->mem + (size_t)i * pb->buf_size;
		iov[i].iov_len = pb->buf_size;
	}
	/* A write per buffer and the writeback requests (the CQ ring is twice as large). */
	err = io_uring_queue_init(pb->nr_bufs + PB_WB_MAX, &pb->ring, 0);
	if (err) {
		pr_errno(err, "cannot set up io_uring for the page buffers");
		goto fail;
	}
	pb->ring_ok = 1;
	err = io_uring_register_buffers(&pb->ring, iov, pb->nr_bufs);
	if (err) {
		pr_errno(err, "cannot register %u x %zu bytes of page buffers (RLIMIT_MEMLOCK?)",
			 pb->nr_bufs, pb->buf_size);
		goto fail;
	}
	/* An empty (sparse) table: each writer installs its pages file in a slot. */
	for (i = 0; i < PB_SLOTS; i++)
		files[i] = -1;
	err = io_uring_register_files(&pb->ring, files, PB_SLOTS);
	if (err) {
		pr_errno(err, "cannot register a file table of %u slots with io_uring", PB_SLOTS);
		goto fail;
	}
	free(iov);
	*out = pb;
	return 0;
fail:
	free(iov);
	page_buffers_destroy(pb);
	return err;
}

void page_buffers_destroy(struct page_buffers *pb)
{
	if (!pb)
		return;
	if (pb->lent)
		pr_err("buffer set destroyed while a writer holds it"); /* a caller's bug */
	if (pb->ring_ok) {
		pb_reap_ready(pb);
		if (pb->wb_pending)
			pr_debug("%u early writeback request(s) left to the ring's teardown",
				 pb->wb_pending);
		io_uring_queue_exit(&pb->ring);
	}
	if (pb->mem)
		munmap(pb->mem, pb->mem_len);
	free(pb);
}

void page_buffers_get_stats(const struct page_buffers *pb, struct page_buffers_stats *st)
{
	*st = pb->st;
	st->wb_pending = pb->wb_pending;
}

int page_buffers_wait_wb(struct page_buffers *pb, unsigned timeout_ms)
{
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000, now;
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	int ret;

	if (pb->lent)
		return -EBUSY;
	if (pb->wb_pending && !pb->broken)
		io_uring_submit(&pb->ring); /* one a writer could not submit is still queued */
	while (pb->wb_pending) {
		if (pb->broken)
			return -EIO;
		ret = pb_reap_ready(pb);
		if (ret)
			return ret;
		if (!pb->wb_pending)
			break;
		now = mono_ns();
		if (now >= deadline)
			return -ETIME;
		ts.tv_sec = (long long)((deadline - now) / 1000000000);
		ts.tv_nsec = (long long)((deadline - now) % 1000000000);
		ret = io_uring_wait_cqe_timeout(&pb->ring, &cqe, &ts);
		if (ret && ret != -ETIME && ret != -EINTR) {
			pr_errno(ret, "waiting for %u early writeback request(s)", pb->wb_pending);
			return ret;
		}
	}
	return 0;
}

/* ---- lending a set to a writer -------------------------------------------------------------- */

/*
 * Give the buffer set back: wait for the writer's writes, take the writeback
 * completions that are ready, and clear its file slot unless a writeback
 * request still refers to it (then the slot is cleared with its last one).
 */
void pw_put_buffers(struct page_writer *pw)
{
	struct page_buffers *pb = pw->pb;

	if (!pb)
		return;
	pw_drain(pw);
	pb->lent = 0;
	if (pw->own_pb) {
		page_buffers_destroy(pb); /* drops the file table with the ring */
		pw->pb = NULL;
		return;
	}
	pb_reap_ready(pb);
	if (pw->slot >= 0) {
		pb->active_slot = -1;
		if (!pb->slot_wb[pw->slot])
			pb_slot_clear(pb, (unsigned)pw->slot);
	}
	pw->pb = NULL;
}

/* Take @opts->bufs, or set up buffers of the writer's own. */
int pw_get_buffers(struct page_writer *pw, const struct page_writer_opts *opts)
{
	struct page_buffers *pb = opts ? opts->bufs : NULL;
	int err;

	if (!pb) {
		err = page_buffers_create(&pb, opts);
		if (err) {
			pr_err("pid %d: no page buffers for %s", pw->pid, pw->pages_path);
			return err;
		}
		pw->own_pb = 1;
	} else if ((opts->nr_bufs && opts->nr_bufs != pb->nr_bufs) ||
		   (opts->buf_size && opts->buf_size != pb->buf_size)) {
		pr_err("pid %d: %u x %zu bytes of buffers asked for %s, the set has %u x %zu",
		       pw->pid, opts->nr_bufs, opts->buf_size, pw->pages_path, pb->nr_bufs,
		       pb->buf_size);
		return -EINVAL;
	} else if (pb->lent) {
		pr_err("pid %d: the buffer set for %s is lent to another writer", pw->pid,
		       pw->pages_path);
		return -EBUSY;
	} else if (pb->broken) {
		pr_err("pid %d: the buffer set for %s failed earlier", pw->pid, pw->pages_path);
		return -EIO;
	}
	pb->lent = 1;
	pb->st.writers++;
	pw->pb = pb;
	pw->ring = &pb->ring;
	pw->mem = pb->mem;
	pw->nr_bufs = pb->nr_bufs;
	pw->buf_size = pb->buf_size;
	return pw->own_pb ? 0 : pb_reap_ready(pb);
}

/*
 * Install pages_fd in a slot of the registered file table that no pending
 * writeback request refers to (there is one: PB_SLOTS).
 */
int pw_install_file(struct page_writer *pw)
{
	struct page_buffers *pb = pw->pb;
	unsigned i, s;
	int ret;

	for (i = 0; i < PB_SLOTS; i++) {
		s = (pb->next_slot + i) % PB_SLOTS;
		if (!pb->slot_wb[s])
			break;
	}
	if (i == PB_SLOTS) {
		pr_err("pid %d: no free io_uring file slot for %s (%u writebacks pending)", pw->pid,
		       pw->pages_path, pb->wb_pending);
		return -EIO;
	}
	ret = io_uring_register_files_update(&pb->ring, s, &pw->pages_fd, 1);
	if (ret != 1) {
		ret = ret < 0 ? ret : -EIO;
		pr_errno(ret, "pid %d: cannot register %s.tmp with io_uring (slot %u)", pw->pid,
			 pw->pages_path, s);
		return ret;
	}
	pb->slot_file[s] = 1;
	snprintf(pb->slot_name[s], sizeof(pb->slot_name[s]), "%s", pw->pages_name);
	pb->next_slot = (s + 1) % PB_SLOTS;
	pb->active_slot = (int)s;
	pw->slot = (int)s;
	return 0;
}
