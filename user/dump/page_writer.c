// SPDX-License-Identifier: MIT
/*
 * The page writer (see page_writer.h): the pagemap entries and the public
 * calls (open, add, add_parent, reserve, commit, abort).
 *
 * The pagemap entries are produced in the same order as the data and go
 * through img_write_entry(); the pending entry grows while runs stay
 * contiguous with the same flags.
 *
 * The buffers, the ring and its registered file table live in a struct
 * page_buffers (page_writer_buffers.c): the writer's own (created at open,
 * destroyed at the end) or one it borrows. Filling the buffers and writing
 * them, and reading the target, is page_writer_io.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "page_writer: "
#include "img.h"
#include "log.h"
#include "util.h"
#include "page_writer_priv.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"

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
		e.vaddr = pw->ent_vaddr - pw->vaddr_base;
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

static int pw_open(struct page_writer **out, int dirfd, pid_t pid, const char *pm_name,
		   uint32_t pages_id, uint64_t vaddr_base, const struct page_writer_opts *opts)
{
	PagemapHead head = PAGEMAP_HEAD__INIT;
	struct page_writer *pw;
	unsigned i, nr_bufs;
	size_t buf_size;
	int err, fl;

	pw = calloc(1, sizeof(*pw));
	if (!pw)
		return -ENOMEM;
	pw->pid = pid;
	pw->vaddr_base = vaddr_base;
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
	    (opts && (opts->flags & ~(PAGE_WRITER_BUFFERED | PAGE_WRITER_NOSYNC | PAGE_WRITER_LIVE |
				      PAGE_WRITER_NO_PIN)))) {
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

int page_writer_open(struct page_writer **out, int dirfd, pid_t pid, uint32_t pages_id,
		     const struct page_writer_opts *opts)
{
	char pm_name[32];

	snprintf(pm_name, sizeof(pm_name), "pagemap-%d.img", pid);
	return pw_open(out, dirfd, pid, pm_name, pages_id, 0, opts);
}

int page_writer_open_shmem(struct page_writer **out, int dirfd, uint32_t shmid, uint32_t pages_id,
			   const void *base, const struct page_writer_opts *opts)
{
	char pm_name[40];

	snprintf(pm_name, sizeof(pm_name), "pagemap-shmem-%u.img", shmid);
	return pw_open(out, dirfd, getpid(), pm_name, pages_id, (uint64_t)(uintptr_t)base, opts);
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
