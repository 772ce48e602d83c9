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
struct page_writer_opts {
	unsigned nr_bufs;
	size_t buf_size;
	unsigned flags;
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

#define PAGE_WRITER_NR_BUFS 16u
#define PAGE_WRITER_BUF_SIZE (1u << 20)

struct page_writer_stats {
	uint64_t pages_written;	 /* pages copied into pages-<id>.img */
	uint64_t pages_parent;	 /* pages recorded as PE_PARENT */
	uint64_t pages_vanished; /* PAGE_WRITER_LIVE: pages unmapped before they were read */
	uint64_t nr_entries;	 /* pagemap entries written (the head not counted) */
	uint64_t read_ns;	 /* time in process_vm_readv / pread(/proc/PID/mem) */
	uint64_t write_ns;	 /* time waiting for io_uring write completions + fdatasync */
	uint64_t wb_requests;	 /* buffered: early writeback requests (see page_writer.c) */
};

struct page_writer;

/*
 * page_writer_open - start the images of process @pid in directory @dirfd:
 * pagemap-<pid>.img (through img_create() with IMG_PAGEMAP; its first entry
 * is a pagemap_head with @pages_id) and pages-<pages_id>.img (raw). @opts may
 * be NULL for the defaults. /proc/PID/mem is opened only when first needed.
 * @dirfd must stay open until page_writer_commit() or page_writer_abort().
 *
 * Returns 0 with *@out set, -EINVAL for bad @opts, -ESRCH if @pid does not
 * exist, -ENOMEM (also when io_uring cannot lock the buffers), or the -errno
 * of creating the files or setting up io_uring. On error nothing is left
 * behind.
 */
int page_writer_open(struct page_writer **out, int dirfd, pid_t pid, uint32_t pages_id,
		     const struct page_writer_opts *opts);

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
 * their temporary and final names.
 */
int page_writer_commit(struct page_writer *pw, struct page_writer_stats *st);

/*
 * page_writer_abort - wait for the writes in flight, remove the temporary
 * files and free the writer. NULL is accepted. Never fails.
 */
void page_writer_abort(struct page_writer *pw);

#endif
