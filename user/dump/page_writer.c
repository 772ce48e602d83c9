// SPDX-License-Identifier: MIT
/*
 * The page writer (see page_writer.h).
 *
 * Buffers are filled one at a time, run after run, so that many small runs
 * share one write; a full buffer (or the last one, at commit) is handed to
 * io_uring as one IORING_OP_WRITE_FIXED at the file offset it was given when
 * its filling started. While it is written, the next free buffer is filled.
 * When none is free, the writer waits for a completion. A short or -EAGAIN
 * completion is resubmitted for the bytes still to write.
 *
 * The pagemap entries are produced in the same order as the data and go
 * through img_write_entry(); the pending entry grows while runs stay
 * contiguous with the same flags.
 *
 * The buffers, the ring and its registered file table live in a struct
 * page_buffers: the writer's own (created at open, destroyed at the end) or
 * one it borrows. Completions carry their buffer index, or PW_TAG_WB and the
 * file slot for an early writeback request; such a request may complete
 * after its writer has ended (see page_writer.h), and is then reaped and
 * counted by the set for whoever uses the ring next.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "page_writer: "
#include "img.h"
#include "log.h"
#include "util.h"
#include "page_writer.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"

#define PW_PAGE_SHIFT 12
#define PW_PAGE_SIZE (1ULL << PW_PAGE_SHIFT)
#define PW_MAX_BUFS 1024u
#define PW_MAX_BUF_SIZE (1ULL << 30)
/*
 * Buffered writes of a target that runs meanwhile (PAGE_WRITER_LIVE, a
 * pre-dump): writeback of the pages file is started every PW_WB_CHUNK bytes
 * (IORING_OP_SYNC_FILE_RANGE with SYNC_FILE_RANGE_WRITE, in the kernel's
 * worker), so that the disk works while the target is still being copied and
 * the final sync has less left to do. Not for a frozen target: writeback
 * during the copy was measured to lengthen its frozen time (up to 2-4x at
 * 1 GiB, when the disk is busy: the writes into the page cache contend with
 * it), and a frozen target's time matters more than ferry's. Only bytes below file_off -
 * nr_bufs * buf_size are asked for: every write there has completed. The
 * writer never waits for these requests (a frozen target would wait with it);
 * one still pending at the end is reaped by the next user of the ring or
 * finished by the ring's teardown. At most PB_WB_MAX are pending in a set at
 * once (a later request covers more instead), which bounds what the
 * completion queue must hold: nr_bufs writes and PB_WB_MAX of these.
 */
#define PW_WB_CHUNK (8ULL << 20)
#define PW_TAG_WB (1ULL << 63) /* | file slot; a write's tag is its buffer index */
#define PB_WB_MAX 32u
/*
 * Registered file slots: one more than the writeback requests that can be
 * pending, so that a writer always finds a slot no earlier request still
 * refers to (io_uring resolves the fixed file of a request it runs in its
 * worker, as sync_file_range, only when it runs it).
 */
#define PB_SLOTS (PB_WB_MAX + 1)

struct page_buffers {
	struct io_uring ring;
	int ring_ok;
	int broken;	 /* the ring is in an unknown state: lend it no more */
	int lent;	 /* a writer holds the set */
	int active_slot; /* that writer's file slot, or -1 */
	uint8_t *mem;	 /* nr_bufs * buf_size, registered */
	size_t mem_len;
	unsigned nr_bufs;
	size_t buf_size;
	unsigned next_slot;		   /* where the search for a free slot starts */
	unsigned wb_pending;		   /* writeback requests not yet completed */
	unsigned slot_wb[PB_SLOTS];	   /* the same, per file slot */
	unsigned char slot_file[PB_SLOTS]; /* a file is installed in the slot */
	char slot_name[PB_SLOTS][32];	   /* its name, for messages */
	struct page_buffers_stats st;
};

struct pw_buf {
	uint64_t off;	/* offset in the pages file of the buffer's first byte */
	uint64_t vaddr; /* address of the first page in it (for messages) */
	size_t len;	/* bytes to write */
	size_t done;	/* bytes written so far */
	int direct;	/* submitted while the file had O_DIRECT */
};

struct page_writer {
	pid_t pid;
	int dirfd;
	uint32_t pages_id;

	struct img *pm; /* pagemap-<pid>.img */
	int pages_fd;	/* pages-<id>.img.tmp */
	int pages_tmp;	/* the .tmp file exists and is ours to remove */
	int direct;	/* pages_fd has O_DIRECT */
	int mem_fd;	/* /proc/PID/mem, opened on first need */
	char pages_name[32];
	char pages_tmpname[40];
	char pages_path[PATH_MAX]; /* for messages */

	struct page_buffers *pb; /* buffers, ring, file table: own or borrowed */
	int own_pb;		 /* pb was created for this writer */
	int slot;		 /* pages_fd's slot in pb's file table, or -1 */
	struct io_uring *ring;	 /* &pb->ring */
	uint8_t *mem;		 /* pb->mem */
	unsigned nr_bufs;
	size_t buf_size;
	struct pw_buf *bufs;
	unsigned *free_bufs; /* stack of free buffer indices */
	unsigned nr_free;
	unsigned inflight; /* writes submitted, not yet completed */
	int cur;	   /* buffer being filled, or -1 */
	size_t cur_fill;   /* bytes in it */
	uint64_t file_off;
	uint64_t reserved; /* page_writer_reserve(): the file is allocated up to here */
	uint64_t wb_off;   /* writeback requested for [0, wb_off) */

	uint64_t next_addr; /* the next call must start here or above */
	uint64_t ent_vaddr; /* the pending pagemap entry */
	uint64_t ent_nr;
	uint32_t ent_flags;

	unsigned flags; /* PAGE_WRITER_* */
	struct page_writer_stats st;
	int err; /* sticky: the first failure */
};

static void set_pages_path(struct page_writer *pw)
{
	char link[64], dir[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", pw->dirfd);
	n = pw->dirfd == AT_FDCWD ? -1 : readlink(link, dir, sizeof(dir) - 1);
	if (n <= 0) {
		snprintf(pw->pages_path, sizeof(pw->pages_path), "%s", pw->pages_name);
		return;
	}
	dir[n] = '\0';
	if (snprintf(pw->pages_path, sizeof(pw->pages_path), "%s/%s", dir, pw->pages_name) >=
	    (int)sizeof(pw->pages_path))
		snprintf(pw->pages_path, sizeof(pw->pages_path), "%s", pw->pages_name);
}

/* ---- buffer sets ---------------------------------------------------------------------------- */

/* The buffer geometry of @opts (NULL: defaults), checked against the limits. */
static int pb_geometry(const struct page_writer_opts *opts, unsigned *nr_bufs, size_t *buf_size)
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
static int pb_wb_done(struct page_buffers *pb, uint64_t tag, int res)
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
static int pw_drain(struct page_writer *pw)
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
static int pw_flush_buf(struct page_writer *pw)
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
static int pw_get_buf(struct page_writer *pw, uint64_t vaddr)
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
 * /proc/PID/mem from the first address it cannot read (PROT_NONE, ...).
 */
static int pw_read(struct page_writer *pw, uint8_t *dst, uint64_t addr, size_t len)
{
	uint64_t t0 = mono_ns();
	size_t done = 0;
	int use_mem = 0, err = 0;
	ssize_t n;

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

/* ---- pagemap entries ------------------------------------------------------------------------ */

/* Write the pending entry, split so that compat_nr_pages (uint32) holds each count. */
static int pw_flush_entry(struct page_writer *pw)
{
	PagemapEntry e;
	uint64_t n;
	int err;

	while (pw->ent_nr) {
		n = pw->ent_nr > UINT32_MAX ? UINT32_MAX : pw->ent_nr;
		pagemap_entry__init(&e);
		e.vaddr = pw->ent_vaddr;
		e.compat_nr_pages = (uint32_t)n;
		e.has_nr_pages = 1;
		e.nr_pages = n;
		e.has_flags = 1;
		e.flags = pw->ent_flags;
		if (pw->ent_flags & PE_PARENT) {
			e.has_in_parent = 1;
			e.in_parent = 1;
		}
		err = img_write_entry(pw->pm, &e.base);
		if (err) {
			pr_errno(err, "pid %d: cannot write the pagemap entry of 0x%llx to %s",
				 pw->pid, (unsigned long long)pw->ent_vaddr, img_name(pw->pm));
			return err;
		}
		pw->st.nr_entries++;
		pw->ent_vaddr += n << PW_PAGE_SHIFT;
		pw->ent_nr -= n;
	}
	return 0;
}

static int pw_note(struct page_writer *pw, uint64_t vaddr, uint64_t nr, uint32_t flags)
{
	int err;

	if (pw->ent_nr && pw->ent_flags == flags &&
	    pw->ent_vaddr + (pw->ent_nr << PW_PAGE_SHIFT) == vaddr) {
		pw->ent_nr += nr;
		return 0;
	}
	err = pw_flush_entry(pw);
	if (err)
		return err;
	pw->ent_vaddr = vaddr;
	pw->ent_nr = nr;
	pw->ent_flags = flags;
	return 0;
}

/* ---- public API ----------------------------------------------------------------------------- */

static int pw_check_range(struct page_writer *pw, uint64_t start, uint64_t nr_pages)
{
	if ((start & (PW_PAGE_SIZE - 1)) || nr_pages > (UINT64_MAX - start) >> PW_PAGE_SHIFT) {
		pr_err("pid %d: bad page range 0x%llx + %llu pages", pw->pid,
		       (unsigned long long)start, (unsigned long long)nr_pages);
		return -EINVAL;
	}
	if (nr_pages && start < pw->next_addr) {
		pr_err("pid %d: pages at 0x%llx come after 0x%llx: calls must be in address order",
		       pw->pid, (unsigned long long)start, (unsigned long long)pw->next_addr);
		return -EINVAL;
	}
	return 0;
}

int page_writer_add(struct page_writer *pw, uint64_t start, uint64_t nr_pages)
{
	uint64_t addr = start, left;
	size_t len;
	int err;

	err = pw_check_range(pw, start, nr_pages);
	if (err)
		return err;
	if (pw->err || !nr_pages)
		return pw->err;
	left = nr_pages << PW_PAGE_SHIFT;
	while (left) {
		if (pw->cur < 0) {
			err = pw_get_buf(pw, addr);
			if (err)
				goto fail;
		}
		len = pw->buf_size - pw->cur_fill;
		if (len > left)
			len = (size_t)left;
		err = pw_read(pw, pw->mem + (size_t)pw->cur * pw->buf_size + pw->cur_fill, addr,
			      len);
		if (err)
			goto fail;
		err = pw_note(pw, addr, len >> PW_PAGE_SHIFT, PE_PRESENT);
		if (err)
			goto fail;
		pw->cur_fill += len;
		pw->file_off += len;
		pw->st.pages_written += len >> PW_PAGE_SHIFT;
		addr += len;
		left -= len;
		if (pw->cur_fill == pw->buf_size) {
			err = pw_flush_buf(pw);
			if (err)
				goto fail;
		}
	}
	pw->next_addr = addr;
	return 0;
fail:
	pw->err = err;
	return err;
}

int page_writer_add_parent(struct page_writer *pw, uint64_t start, uint64_t nr_pages)
{
	int err;

	err = pw_check_range(pw, start, nr_pages);
	if (err)
		return err;
	if (pw->err || !nr_pages)
		return pw->err;
	err = pw_note(pw, start, nr_pages, PE_PARENT);
	if (err) {
		pw->err = err;
		return err;
	}
	pw->st.pages_parent += nr_pages;
	pw->next_addr = start + (nr_pages << PW_PAGE_SHIFT);
	return 0;
}

int page_writer_reserve(struct page_writer *pw, uint64_t nr_pages)
{
	uint64_t len, t0;
	int err;

	if (pw->err || !nr_pages)
		return pw->err;
	if (nr_pages > (UINT64_MAX - pw->file_off) >> PW_PAGE_SHIFT ||
	    pw->file_off + (nr_pages << PW_PAGE_SHIFT) > (uint64_t)INT64_MAX) {
		pr_err("pid %d: cannot reserve %llu pages in %s: too large", pw->pid,
		       (unsigned long long)nr_pages, pw->pages_path);
		return -EINVAL;
	}
	len = nr_pages << PW_PAGE_SHIFT;
	if (pw->file_off + len <= pw->reserved)
		return 0;
	t0 = mono_ns();
	if (!fallocate(pw->pages_fd, 0, (off_t)pw->file_off, (off_t)len)) {
		pw->reserved = pw->file_off + len;
		pr_debug("pid %d: %s.tmp: %llu bytes allocated in %llu us", pw->pid, pw->pages_path,
			 (unsigned long long)len, (unsigned long long)((mono_ns() - t0) / 1000));
		return 0;
	}
	err = -errno;
	if (err == -EOPNOTSUPP || err == -ENOSYS || err == -EINVAL) {
		pr_debug("pid %d: %s.tmp: no fallocate here (%s), nothing reserved", pw->pid,
			 pw->pages_path, strerror(-err));
		return 0;
	}
	pr_errno(err, "pid %d: cannot allocate %llu MiB for the pages in %s.tmp at offset %llu",
		 pw->pid, (unsigned long long)((len + (1 << 20) - 1) >> 20), pw->pages_path,
		 (unsigned long long)pw->file_off);
	pw->err = err;
	return err;
}

/*
 * Give the buffer set back: wait for the writer's writes, take the writeback
 * completions that are ready, and clear its file slot unless a writeback
 * request still refers to it (then the slot is cleared with its last one).
 */
static void pw_put_buffers(struct page_writer *pw)
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

/* Drain, give the buffers back, close and remove what is still temporary, free. */
static void pw_free(struct page_writer *pw)
{
	pw_put_buffers(pw);
	if (pw->pages_fd >= 0)
		close(pw->pages_fd);
	if (pw->pages_tmp)
		unlinkat(pw->dirfd, pw->pages_tmpname, 0);
	if (pw->mem_fd >= 0)
		close(pw->mem_fd);
	img_abort(pw->pm);
	free(pw->bufs);
	free(pw->free_bufs);
	free(pw);
}

/* Take @opts->bufs, or set up buffers of the writer's own. */
static int pw_get_buffers(struct page_writer *pw, const struct page_writer_opts *opts)
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
static int pw_install_file(struct page_writer *pw)
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

int page_writer_open(struct page_writer **out, int dirfd, pid_t pid, uint32_t pages_id,
		     const struct page_writer_opts *opts)
{
	PagemapHead head = PAGEMAP_HEAD__INIT;
	struct page_writer *pw;
	char pm_name[32];
	unsigned i, nr_bufs;
	size_t buf_size;
	int err, fl;

	pw = calloc(1, sizeof(*pw));
	if (!pw)
		return -ENOMEM;
	pw->pid = pid;
	pw->dirfd = dirfd;
	pw->pages_id = pages_id;
	pw->pages_fd = -1;
	pw->mem_fd = -1;
	pw->cur = -1;
	pw->slot = -1;
	snprintf(pw->pages_name, sizeof(pw->pages_name), "pages-%u.img", pages_id);
	snprintf(pw->pages_tmpname, sizeof(pw->pages_tmpname), "%s.tmp", pw->pages_name);
	set_pages_path(pw);

	if (pb_geometry(opts, &nr_bufs, &buf_size) ||
	    (opts &&
	     (opts->flags & ~(PAGE_WRITER_BUFFERED | PAGE_WRITER_NOSYNC | PAGE_WRITER_LIVE)))) {
		pr_err("pid %d: bad options for %s: %u x %zu bytes, flags 0x%x", pid,
		       pw->pages_path, nr_bufs, buf_size, opts ? opts->flags : 0);
		err = -EINVAL;
		goto fail;
	}
	if (pid <= 0 || (kill(pid, 0) && errno == ESRCH)) {
		pr_err("pid %d: no such process", pid);
		err = -ESRCH;
		goto fail;
	}

	err = pw_get_buffers(pw, opts);
	if (err)
		goto fail;
	pw->bufs = calloc(pw->nr_bufs, sizeof(*pw->bufs));
	pw->free_bufs = calloc(pw->nr_bufs, sizeof(*pw->free_bufs));
	if (!pw->bufs || !pw->free_bufs) {
		err = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < pw->nr_bufs; i++)
		pw->free_bufs[i] = pw->nr_bufs - 1 - i;
	pw->nr_free = pw->nr_bufs;

	pw->flags = opts ? opts->flags : 0;
	pw->direct = !(pw->flags & PAGE_WRITER_BUFFERED);
	fl = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
	pw->pages_fd = openat(dirfd, pw->pages_tmpname, fl | (pw->direct ? O_DIRECT : 0), 0600);
	if (pw->pages_fd < 0 && errno == EINVAL && pw->direct) {
		pr_info("pid %d: no O_DIRECT for %s.tmp, writing through the page cache", pid,
			pw->pages_path);
		pw->direct = 0;
		pw->pages_fd = openat(dirfd, pw->pages_tmpname, fl, 0600);
	}
	if (pw->pages_fd < 0) {
		err = -errno;
		pr_perror("pid %d: cannot create %s.tmp", pid, pw->pages_path);
		goto fail;
	}
	pw->pages_tmp = 1;
	err = pw_install_file(pw);
	if (err)
		goto fail;

	snprintf(pm_name, sizeof(pm_name), "pagemap-%d.img", pid);
	err = img_create(&pw->pm, dirfd, pm_name, IMG_PAGEMAP);
	if (err)
		goto fail;
	head.pages_id = pages_id;
	err = img_write_entry(pw->pm, &head.base);
	if (err) {
		pr_errno(err, "pid %d: cannot write the pagemap head to %s", pid, img_name(pw->pm));
		goto fail;
	}
	*out = pw;
	return 0;
fail:
	pw_free(pw);
	return err;
}

int page_writer_commit(struct page_writer *pw, struct page_writer_stats *st)
{
	int err = pw->err, ret, renamed = 0;
	uint64_t t0;

	if (!err)
		err = pw_flush_buf(pw);
	ret = pw_drain(pw);
	if (!err)
		err = ret;
	if (!err)
		err = pw_flush_entry(pw);
	if (err)
		goto out;

	if (pw->reserved > pw->file_off && ftruncate(pw->pages_fd, (off_t)pw->file_off)) {
		err = -errno;
		pr_perror("pid %d: cannot give back the unwritten end of %s.tmp (at %llu)", pw->pid,
			  pw->pages_path, (unsigned long long)pw->file_off);
		goto out;
	}
	t0 = mono_ns();
	if (!(pw->flags & PAGE_WRITER_NOSYNC) && fdatasync(pw->pages_fd)) {
		err = -errno;
		pr_perror("pid %d: cannot sync %s.tmp", pw->pid, pw->pages_path);
		goto out;
	}
	pw->st.write_ns += mono_ns() - t0;
	ret = close(pw->pages_fd);
	pw->pages_fd = -1;
	if (ret) {
		err = -errno;
		pr_perror("pid %d: cannot close %s.tmp", pw->pid, pw->pages_path);
		goto out;
	}
	if (renameat(pw->dirfd, pw->pages_tmpname, pw->dirfd, pw->pages_name)) {
		err = -errno;
		pr_perror("pid %d: cannot rename %s.tmp into place", pw->pid, pw->pages_path);
		goto out;
	}
	pw->pages_tmp = 0;
	renamed = 1;
	err = img_commit(pw->pm); /* frees it, success or not */
	pw->pm = NULL;
out:
	if (err && renamed)
		unlinkat(pw->dirfd, pw->pages_name, 0);
	pr_debug("pid %d: %s: %llu pages, %llu us reading them, %llu us waiting for writes",
		 pw->pid, pw->pages_name, (unsigned long long)pw->st.pages_written,
		 (unsigned long long)(pw->st.read_ns / 1000),
		 (unsigned long long)(pw->st.write_ns / 1000));
	if (st)
		*st = pw->st;
	pw_free(pw);
	return err;
}

void page_writer_abort(struct page_writer *pw)
{
	if (pw)
		pw_free(pw);
}
