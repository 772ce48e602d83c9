/* SPDX-License-Identifier: MIT */
/*
 * The page writer: copies pages of a (stopped) process into a CRIU image pair,
 * pagemap-<pid>.img (which pages, where) and pages-<id>.img (their raw
 * contents, in pagemap order).
 *
 * Pages are read with process_vm_readv(2) into a fixed set of buffers
 * registered with io_uring, and written from there with fixed-buffer writes
 * at the pages file's running offset, several writes in flight while the next
 * buffer is being filled. Where process_vm_readv cannot read (a PROT_NONE
 * mapping, EFAULT/EIO), the chunk is read with pread(2) from /proc/PID/mem,
 * which can. Memory use is the buffers plus a few KiB, whatever the size of
 * the target.
 *
 * Both files are written under temporary names ("<name>.tmp") and appear
 * under their final names only on a successful page_writer_commit(): the
 * pages file first, then the pagemap. After any failure, nothing with a
 * final name is left by the writer.
 *
 * Not thread-safe: one writer is used by one thread.
 */
#ifndef FERRY_PAGE_WRITER_H
#define FERRY_PAGE_WRITER_H

#include <stdint.h>
#include <sys/types.h>

/*
 * Buffers: nr_bufs of buf_size bytes each, registered with io_uring. 0 in a
 * field takes its default (PAGE_WRITER_NR_BUFS, PAGE_WRITER_BUF_SIZE).
 * buf_size must be a multiple of 4096 and at most 1 GiB; nr_bufs at most
 * 1024. Registered buffers are locked memory: without CAP_IPC_LOCK they count
 * against RLIMIT_MEMLOCK.
 *
 * flags: PAGE_WRITER_BUFFERED writes the pages file through the page cache.
 * By default it is opened with O_DIRECT: the device takes the data straight
 * from the registered buffers, dumping a large process does not fill the page
 * cache with a second copy of it, and the final fdatasync has little left to
 * do (bench/bench_page_writer.c compares both). Where the filesystem refuses
 * O_DIRECT, at open or with EINVAL on a write, the writer switches to
 * buffered writes by itself.
 *
 * PAGE_WRITER_NOSYNC leaves out the fdatasync of the pages file at commit: the
 * caller syncs the filesystem (syncfs) before it publishes the images. A dump
 * that lets its target run on uses it with PAGE_WRITER_BUFFERED, so the target
 * is frozen only while its memory is copied, not while the disk catches up.
 */
struct page_buffers;

struct page_writer_opts {
	unsigned nr_bufs;
	size_t buf_size;
	unsigned flags;
	/*
	 * A buffer set (page_buffers_create()) to borrow instead of setting up
	 * buffers and an io_uring of the writer's own; NULL: its own ones.
	 * With a set, nr_bufs and buf_size must be 0 or the set's. The set is
	 * lent to one writer at a time and comes back clean at commit or abort.
	 */
	struct page_buffers *bufs;
};

#define PAGE_WRITER_BUFFERED (1u << 0)
#define PAGE_WRITER_NOSYNC (1u << 1)
/*
 * PAGE_WRITER_LIVE: the target runs while it is read (pre-dump). A page
 * unmapped since it was scanned is written as zeros and counted in
 * pages_vanished instead of failing the writer; the next round of the
 * tracker sees that its VMA changed.
 */
#define PAGE_WRITER_LIVE (1u << 2)
/*
 * PAGE_WRITER_NO_PIN: read the target through /proc/PID/mem, never with
 * process_vm_readv(): its page pins (FOLL_PIN) make the kernel unshare every
 * anonymous page the target still shares copy-on-write with a parent or a
 * child, so a tree that goes on after the dump would have its shared memory
 * doubled. /proc/PID/mem takes references, not pins: the sharing stays (its
 * reads are ~1.5x slower: set for processes that share, dump_pw_for()).
 */
#define PAGE_WRITER_NO_PIN (1u << 3)

#define PAGE_WRITER_NR_BUFS 16u
#define PAGE_WRITER_BUF_SIZE (1u << 20)

struct page_writer_stats {
	uint64_t pages_written;	 /* pages copied into pages-<id>.img */
	uint64_t pages_parent;	 /* pages recorded as PE_PARENT */
	uint64_t pages_vanished; /* PAGE_WRITER_LIVE: pages unmapped before they were read */
	uint64_t nr_entries;	 /* pagemap entries written (the head not counted) */
	uint64_t read_ns;	 /* time in process_vm_readv / pread(/proc/PID/mem) */
	uint64_t write_ns;	 /* time waiting for io_uring write completions + fdatasync */
	uint64_t wb_requests;	 /* buffered + LIVE: early writeback requests (PW_WB_CHUNK) */
};

struct page_writer;

/*
 * A buffer set: the buffers of the page writer (nr_bufs x buf_size, mapped
 * and registered with an io_uring) and that ring, with a small table of
 * registered files. Registering the buffers faults in and pins every page
 * (~6 ms for the default 16 MiB): a dump creates one set before it freezes
 * its tree and lends it to the writer of each process in turn, so that no
 * writer pays for it while the tree is frozen.
 *
 * Writers borrow it through page_writer_opts.bufs. Each writer installs its
 * pages file in a slot of the registered file table at open and clears it
 * when it ends (or, if a writeback request of it is still pending, with that
 * request's completion); commit and abort wait for every write of the
 * writer, so its buffers are free and no write of it is left in the ring.
 *
 * Early writeback requests (buffered writers of a running target, see
 * page_writer_priv.h) are the exception, by design: they are never waited for
 * (the writer would wait for the disk). They are accounted in the set, per file slot, and their
 * completions are consumed by whoever uses the ring next (a later writer,
 * page_buffers_wait_wb(), page_buffers_destroy()). A slot is given to a new
 * writer only when no request of an earlier writer is pending on it, so such
 * a request always runs on the file it was asked for, never on a later
 * writer's.
 *
 * Not thread-safe: create it in one thread, then use it from one thread at a
 * time (with the writers it lends itself to).
 */
struct page_buffers_stats {
	uint64_t writers;    /* writers that borrowed the set */
	uint64_t wb_pending; /* writeback requests not completed yet */
	uint64_t wb_done;    /* writeback requests completed */
	uint64_t wb_failed;  /* ... of which with an error (logged at debug level) */
	uint64_t wb_late;    /* ... of which reaped after their writer had ended */
};

/*
 * page_buffers_create - map, register and set up a buffer set. @opts may be
 * NULL; only its nr_bufs and buf_size are used, with the defaults and limits
 * of page_writer_open(). Returns 0 with *@out set, -EINVAL for bad @opts,
 * -ENOMEM (also when io_uring cannot lock the buffers: RLIMIT_MEMLOCK), or
 * the -errno of setting up io_uring. Logs its failures.
 */
int page_buffers_create(struct page_buffers **out, const struct page_writer_opts *opts);

/*
 * page_buffers_destroy - tear the set down: the ring, the registered files
 * and buffers, the mapping. Writeback requests still pending are finished by
 * the kernel's ring teardown; nothing waits for them. No writer may hold the
 * set. NULL is accepted.
 */
void page_buffers_destroy(struct page_buffers *pb);

/* page_buffers_get_stats - the set's counters (see struct page_buffers_stats). */
void page_buffers_get_stats(const struct page_buffers *pb, struct page_buffers_stats *st);

/*
 * page_buffers_wait_wb - wait up to @timeout_ms for every pending writeback
 * request of the set (tests, and callers that want a quiet ring; a dump does
 * not). Returns 0, -ETIME, -EBUSY if a writer holds the set, -EIO if the
 * ring failed earlier, or the -errno of the wait.
 */
int page_buffers_wait_wb(struct page_buffers *pb, unsigned timeout_ms);

/*
 * page_writer_open - start the images of process @pid in directory @dirfd:
 * pagemap-<pid>.img (through img_create() with IMG_PAGEMAP; its first entry
 * is a pagemap_head with @pages_id) and pages-<pages_id>.img (raw). @opts may
 * be NULL for the defaults. /proc/PID/mem is opened only when first needed.
 * @dirfd must stay open until page_writer_commit() or page_writer_abort().
 *
 * Returns 0 with *@out set, -EINVAL for bad @opts, -ESRCH if @pid does not
 * exist, -ENOMEM (also when io_uring cannot lock the buffers), -EBUSY if
 * @opts->bufs is lent to another writer, -EIO if its ring failed earlier, or
 * the -errno of creating the files or setting up io_uring. On error nothing
 * is left behind (a borrowed set is given back as it was).
 */
int page_writer_open(struct page_writer **out, int dirfd, pid_t pid, uint32_t pages_id,
		     const struct page_writer_opts *opts);

/*
 * page_writer_open_shmem - the same for a shared memory object (CRIU's shmem
 * pages) that ferry has mapped at @base in its own address space:
 * pagemap-shmem-<shmid>.img (IMG_PAGEMAP's magic, a pagemap_head with
 * @pages_id) and pages-<pages_id>.img. page_writer_add() then takes
 * addresses of ferry's mapping and records them as offsets from @base, as
 * CRIU does. Same errors as page_writer_open().
 */
int page_writer_open_shmem(struct page_writer **out, int dirfd, uint32_t shmid, uint32_t pages_id,
			   const void *base, const struct page_writer_opts *opts);

/*
 * page_writer_reserve - allocate disk space for @nr_pages more pages of the
 * pages file before they are written (fallocate(2) from the current end of
 * the data): writes into preallocated blocks take the page cache's fast path
 * instead of delayed allocation, measured 2-10x faster on these machines'
 * ext4 (docs/BENCHMARKS.md), and a full disk fails here, before anything is
 * copied. Space not written by commit is given back (the file is truncated to
 * its data). Call it with the number of pages the writer is about to add; a
 * filesystem without fallocate is not an error (nothing is reserved).
 *
 * Returns 0; -ENOSPC/-EDQUOT (logged with the file and size) or another
 * -errno of fallocate; after an error the writer is unusable: abort it.
 */
int page_writer_reserve(struct page_writer *pw, uint64_t nr_pages);

/*
 * page_writer_add - copy pages [@start, @start + @nr_pages * 4096) of the
 * target into the pages file and record them in the pagemap with PE_PRESENT
 * (one entry with the previous one when they are contiguous and both
 * PE_PRESENT). The data may still be in flight when this returns.
 *
 * Calls (with page_writer_add_parent()) must come in increasing address
 * order, without overlap. @nr_pages 0 does nothing.
 *
 * Returns 0; -EINVAL if @start is not page-aligned, the range wraps, or it
 * starts below the end of the previous call; -ESRCH if the process is gone;
 * -EFAULT/-EIO if a page cannot be read even through /proc/PID/mem (not
 * mapped); the -errno of a failed write (e.g. -ENOSPC); -ENOMEM. Errors are
 * logged with the pid, address and file. A refused range (-EINVAL) leaves
 * the writer as it was; after any other error it is unusable (every later
 * call returns that error): abort it.
 */
int page_writer_add(struct page_writer *pw, uint64_t start, uint64_t nr_pages);

/*
 * page_writer_add_parent - record [@start, @start + @nr_pages * 4096) as
 * PE_PARENT with in_parent set: the pages are unchanged since the parent image
 * directory (pre-dump chains) and no data is written. Same ordering rule and
 * errors as page_writer_add(), minus the reading ones.
 */
int page_writer_add_parent(struct page_writer *pw, uint64_t start, uint64_t nr_pages);

/*
 * page_writer_commit - wait for every write, fdatasync the pages file, rename
 * it to pages-<id>.img, then commit pagemap-<pid>.img. Fills *@st (may be
 * NULL) and frees the writer, on success and on error alike: do not call
 * page_writer_abort() afterwards.
 *
 * Returns 0, or the first error of the writer (from an earlier add, a write
 * completion, the sync, a rename); on error both files are removed, under
 * their temporary and final names. A borrowed buffer set is given back with
 * none of the writer's writes left in its ring, success or not.
 */
int page_writer_commit(struct page_writer *pw, struct page_writer_stats *st);

/*
 * page_writer_abort - wait for the writes in flight, remove the temporary
 * files, give a borrowed buffer set back and free the writer. NULL is
 * accepted. Never fails.
 */
void page_writer_abort(struct page_writer *pw);

#endif
