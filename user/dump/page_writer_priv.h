/* SPDX-License-Identifier: MIT */
/*
 * Inside the page writer (page_writer.h): its structures and what its three
 * files share. page_writer_buffers.c holds the buffer sets (buffers and ring
 * registered with io_uring, the writeback accounting) and their lending to a
 * writer; page_writer_io.c the writer's pipeline (filling buffers, submitting
 * and reaping the writes, reading the target); page_writer.c the pagemap
 * entries and the public writer calls (open, add, reserve, commit, abort).
 */
#ifndef FERRY_PAGE_WRITER_PRIV_H
#define FERRY_PAGE_WRITER_PRIV_H

#include <limits.h>
#include <liburing.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "page_writer.h"

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

	struct img *pm;	     /* pagemap-<pid>.img or pagemap-shmem-<shmid>.img */
	uint64_t vaddr_base; /* subtracted from addresses in pagemap entries (shmem: 0) */
	int pages_fd;	     /* pages-<id>.img.tmp */
	int pages_tmp;	     /* the .tmp file exists and is ours to remove */
	int direct;	     /* pages_fd has O_DIRECT */
	int mem_fd;	     /* /proc/PID/mem, opened on first need */
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
	const struct page_writer_hook *hook;
	struct progress *progress;
	struct page_writer_stats st;
	int err; /* sticky: the first failure */
};

/* page_writer_buffers.c */
int pb_geometry(const struct page_writer_opts *opts, unsigned *nr_bufs, size_t *buf_size);
int pb_wb_done(struct page_buffers *pb, uint64_t tag, int res);
void pw_put_buffers(struct page_writer *pw);
int pw_get_buffers(struct page_writer *pw, const struct page_writer_opts *opts);
int pw_install_file(struct page_writer *pw);

/* page_writer_io.c */
int pw_drain(struct page_writer *pw);
int pw_flush_buf(struct page_writer *pw);
int pw_get_buf(struct page_writer *pw, uint64_t vaddr);
int pw_read(struct page_writer *pw, uint8_t *dst, uint64_t addr, size_t len);

#endif
