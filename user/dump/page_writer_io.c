// SPDX-License-Identifier: MIT
/*
 * The page writer's pipeline: buffers are filled one at a time, run after
 * run, so that many small runs share one write; a full buffer (or the last
 * one, at commit) is handed to io_uring as one IORING_OP_WRITE_FIXED at the
 * file offset it was given when its filling started. While it is written,
 * the next free buffer is filled. When none is free, the writer waits for a
 * completion. A short or -EAGAIN completion is resubmitted for the bytes
 * still to write. Completions carry their buffer index, or PW_TAG_WB and the
 * file slot for an early writeback request (page_writer_priv.h). Also the
 * reading of the target: process_vm_readv, then /proc/PID/mem.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "page_writer: "
#include "log.h"
#include "util.h"
#include "page_writer_priv.h"

/* ---- io_uring ------------------------------------------------------------------------------- */

/* Queue the rest of buffer idx (from its done mark) and submit it. */
static int pw_submit(struct page_writer *pw, unsigned idx)
{
	struct pw_buf *b = &pw->bufs[idx];
	struct io_uring_sqe *sqe;
	int ret;

	sqe = io_uring_get_sqe(pw->ring);
	if (!sqe) {
		/* Cannot happen: the ring has an entry per buffer, each submitted at once. */
		pr_err("pid %d: no free io_uring entry for %s.tmp at offset %llu", pw->pid,
		       pw->pages_path, (unsigned long long)b->off);
		return -EBUSY;
	}
	io_uring_prep_write_fixed(sqe, pw->slot, pw->mem + (size_t)idx * pw->buf_size + b->done,
				  (unsigned)(b->len - b->done), b->off + b->done, (int)idx);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, idx);
	b->direct = pw->direct;
	do
		ret = io_uring_submit(pw->ring);
	while (ret == -EINTR);
	if (ret <= 0 || io_uring_sq_ready(pw->ring)) {
		if (ret >= 0)
			ret = -EBUSY; /* the kernel did not take it all: do not wait for it */
		pr_errno(ret,
			 "pid %d: cannot submit the write of %s.tmp at offset %llu (pages 0x%llx)",
			 pw->pid, pw->pages_path, (unsigned long long)(b->off + b->done),
			 (unsigned long long)b->vaddr);
		/* An entry may be left in the submission queue: no later writer may meet it. */
		pw->pb->broken = 1;
		return ret;
	}
	pw->inflight++;
	return 0;
}

/* Buffered: ask for the writeback of what is surely written (see PW_WB_CHUNK). */
static void pw_start_writeback(struct page_writer *pw)
{
	uint64_t mem = (uint64_t)pw->nr_bufs * pw->buf_size, end;
	struct page_buffers *pb = pw->pb;
	struct io_uring_sqe *sqe;
	int ret;

	if (pw->direct || !(pw->flags & PAGE_WRITER_LIVE) || pw->file_off < mem)
		return;
	end = (pw->file_off - mem) & ~(PW_PAGE_SIZE - 1);
	if (end < pw->wb_off + PW_WB_CHUNK || pb->wb_pending >= PB_WB_MAX)
		return;
	sqe = io_uring_get_sqe(pw->ring);
	if (!sqe)
		return; /* only an optimisation: the final sync does it anyway */
	io_uring_prep_sync_file_range(sqe, pw->slot, (unsigned)(end - pw->wb_off), pw->wb_off,
				      SYNC_FILE_RANGE_WRITE);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, PW_TAG_WB | (uint64_t)pw->slot);
	do
		ret = io_uring_submit(pw->ring);
	while (ret == -EINTR);
	/*
	 * Counted whatever submit said: an entry it did not take stays queued and goes
	 * with the next submission, and its completion must be known for what it is.
	 */
	if (ret != 1)
		pr_debug("pid %d: early writeback of %s.tmp not submitted yet (%d)", pw->pid,
			 pw->pages_path, ret);
	pb->wb_pending++;
	pb->slot_wb[pw->slot]++;
	pw->wb_off = end;
	pw->st.wb_requests++;
}

/* The filesystem takes no direct writes after all: go through the page cache. */
static int pw_no_direct(struct page_writer *pw)
{
	int fl;

	if (!pw->direct)
		return 0;
	fl = fcntl(pw->pages_fd, F_GETFL);
	if (fl < 0 || fcntl(pw->pages_fd, F_SETFL, fl & ~O_DIRECT)) {
		int err = -errno;

		pr_perror("pid %d: cannot turn O_DIRECT off on %s.tmp", pw->pid, pw->pages_path);
		return err;
	}
	pw->direct = 0;
	pr_info("pid %d: %s.tmp: O_DIRECT write refused, writing through the page cache", pw->pid,
		pw->pages_path);
	return 0;
}

/*
 * Take one completion, waiting for it if @wait. Returns 1 if one was
 * handled, 0 if none was ready (!wait), or -errno: of the write (the
 * completion is consumed) or of the wait itself.
 */
static int pw_reap(struct page_writer *pw, int wait)
{
	struct io_uring_cqe *cqe;
	struct pw_buf *b;
	uint64_t t0 = 0, tag;
	unsigned idx;
	int ret, res;

	/* Waiting is for writes; writeback completions are taken as they come. */
	if (pw->pb->broken)
		return -EIO; /* logged when it broke */
	if (!pw->inflight && (wait || !pw->pb->wb_pending))
		return 0;
	if (wait)
		t0 = mono_ns();
	do
		ret = wait ? io_uring_wait_cqe(pw->ring, &cqe) : io_uring_peek_cqe(pw->ring, &cqe);
	while (ret == -EINTR);
	if (wait)
		pw->st.write_ns += mono_ns() - t0;
	if (ret == -EAGAIN && !wait)
		return 0;
	if (ret < 0) {
		pr_errno(ret, "pid %d: waiting for the writes of %s", pw->pid, pw->pages_path);
		pw->pb->broken = 1;
		return ret;
	}
	tag = io_uring_cqe_get_data64(cqe);
	res = cqe->res;
	io_uring_cqe_seen(pw->ring, cqe);
	if (tag & PW_TAG_WB) {
		ret = pb_wb_done(pw->pb, tag, res);
		return ret ?: 1;
	}
	idx = (unsigned)tag;
	if (tag >= pw->nr_bufs || !pw->inflight) {
		pr_err("pid %d: stray io_uring completion %llu for %s", pw->pid,
		       (unsigned long long)tag, pw->pages_path);
		pw->pb->broken = 1;
		return -EIO;
	}
	pw->inflight--;
	b = &pw->bufs[idx];
	if (res == -EAGAIN || res == -EINTR)
		return pw_submit(pw, idx) ?: 1;
	if (res == -EINVAL && b->direct) {
		ret = pw_no_direct(pw);
		return ret ?: pw_submit(pw, idx) ?: 1;
	}
	if (res <= 0) {
		if (!res)
			res = -EIO; /* nothing written, nothing said: do not spin */
		pr_errno(res, "pid %d: cannot write %s.tmp at offset %llu (pages 0x%llx)", pw->pid,
			 pw->pages_path, (unsigned long long)(b->off + b->done),
			 (unsigned long long)b->vaddr);
		pw->free_bufs[pw->nr_free++] = idx;
		return res;
	}
	b->done += (size_t)res;
	if (b->done < b->len) {
		pr_debug("pid %d: short write of %s.tmp at offset %llu, %zu bytes left", pw->pid,
			 pw->pages_path, (unsigned long long)b->off, b->len - b->done);
		return pw_submit(pw, idx) ?: 1;
	}
	pw->free_bufs[pw->nr_free++] = idx;
	return 1;
}

/* Wait for every write in flight. Returns 0 or the first error. */
int pw_drain(struct page_writer *pw)
{
	int ret, err = 0;

	while (pw->inflight) {
		ret = pw_reap(pw, 1);
		if (ret < 0 && !err)
			err = ret;
		if (pw->pb->broken) /* no more waiting on it */
			return err ?: -EIO;
	}
	return err;
}

/* Hand the buffer being filled to io_uring. */
int pw_flush_buf(struct page_writer *pw)
{
	unsigned idx;
	int err;

	if (pw->cur < 0)
		return 0;
	idx = (unsigned)pw->cur;
	pw->cur = -1;
	if (!pw->cur_fill) {
		pw->free_bufs[pw->nr_free++] = idx;
		return 0;
	}
	pw->bufs[idx].len = pw->cur_fill;
	pw->bufs[idx].done = 0;
	err = pw_submit(pw, idx);
	if (err)
		pw->free_bufs[pw->nr_free++] = idx;
	else
		pw_start_writeback(pw);
	return err;
}

/* Make pw->cur a buffer to fill, waiting for a write to finish if none is free. */
int pw_get_buf(struct page_writer *pw, uint64_t vaddr)
{
	unsigned idx;
	int ret;

	while ((ret = pw_reap(pw, 0)) > 0)
		;
	if (ret < 0)
		return ret;
	while (!pw->nr_free) {
		if (!pw->inflight) {
			pr_err("pid %d: no buffer for %s and none being written", pw->pid,
			       pw->pages_path);
			return -EIO;
		}
		ret = pw_reap(pw, 1);
		if (ret < 0)
			return ret;
	}
	idx = pw->free_bufs[--pw->nr_free];
	pw->bufs[idx].off = pw->file_off;
	pw->bufs[idx].vaddr = vaddr;
	pw->cur = (int)idx;
	pw->cur_fill = 0;
	return 0;
}

/* ---- reading the target --------------------------------------------------------------------- */

static int pw_open_mem(struct page_writer *pw)
{
	char path[64];

	if (pw->mem_fd >= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/mem", pw->pid);
	pw->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pw->mem_fd < 0) {
		int err = errno == ENOENT ? -ESRCH : -errno;

		pr_perror("pid %d: cannot open %s", pw->pid, path);
		return err;
	}
	return 0;
}

/*
 * Copy len bytes at addr of the target to dst: process_vm_readv, and pread of
 * /proc/PID/mem from the first address it cannot read (PROT_NONE, ...); only
 * the latter with PAGE_WRITER_NO_PIN.
 */
int pw_read(struct page_writer *pw, uint8_t *dst, uint64_t addr, size_t len)
{
	uint64_t t0 = mono_ns();
	size_t done = 0;
	int use_mem = 0, err = 0;
	ssize_t n;

	if (pw->flags & PAGE_WRITER_NO_PIN) {
		use_mem = 1;
		err = pw_open_mem(pw);
		if (err)
			goto out;
	}
	while (done < len) {
		if (!use_mem) {
			struct iovec local = { .iov_base = dst + done, .iov_len = len - done };
			struct iovec remote = { .iov_base = (void *)(uintptr_t)(addr + done),
						.iov_len = len - done };

			n = process_vm_readv(pw->pid, &local, 1, &remote, 1, 0);
			if (n > 0) {
				done += (size_t)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno != EFAULT && errno != EIO) {
				err = -errno;
				if (err == -ESRCH)
					pr_err("pid %d: process gone while reading 0x%llx", pw->pid,
					       (unsigned long long)(addr + done));
				else
					pr_perror("pid %d: process_vm_readv of 0x%llx (%zu bytes)",
						  pw->pid, (unsigned long long)(addr + done),
						  len - done);
				goto out;
			}
			use_mem = 1;
			err = pw_open_mem(pw);
			if (err)
				goto out;
		}
		n = pread(pw->mem_fd, dst + done, len - done, (off_t)(addr + done));
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EIO || errno == EFAULT) && (pw->flags & PAGE_WRITER_LIVE)) {
			/* Unmapped since the scan: zeros now, the next round sees the change. */
			size_t left = 4096 - ((addr + done) & 4095);

			if (left > len - done)
				left = len - done;
			memset(dst + done, 0, left);
			done += left;
			pw->st.pages_vanished++;
			continue;
		}
		if (!n) {
			/* /proc/PID/mem of a process without mm reads as empty. */
			err = -ESRCH;
			pr_err("pid %d: process gone while reading 0x%llx", pw->pid,
			       (unsigned long long)(addr + done));
		} else {
			err = -errno;
			pr_perror("pid %d: cannot read 0x%llx (%zu bytes) from /proc/%d/mem",
				  pw->pid, (unsigned long long)(addr + done), len - done, pw->pid);
		}
		goto out;
	}
out:
	pw->st.read_ns += mono_ns() - t0;
	return err;
}
