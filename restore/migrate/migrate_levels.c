// SPDX-License-Identifier: MIT
/* The destination's copy of the source's pre-dump chain (migrate_levels.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "migrate: "
#include "img.h"
#include "log.h"
#include "migrate_levels.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"
#include "util.h"
#include "xbzrle.h"

#define PAGE 4096u

int mlevel_open(struct mlevel *l, int dirfd, const char *dir, const char *name, const char *parent,
		struct mcopies *copies)
{
	int err;

	memset(l, 0, sizeof(*l));
	l->copies = copies;
	snprintf(l->name, sizeof(l->name), "%s", name);
	if (strcmp(name, ".") && mkdirat(dirfd, name, 0700)) {
		err = -errno;
		pr_err("%s/%s: cannot make it: %s", dir, name, strerror(-err));
		l->dirfd = -1;
		return err;
	}
	l->dirfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->dirfd < 0) {
		err = -errno;
		pr_err("%s/%s: cannot open: %s", dir, name, strerror(-err));
		return err;
	}
	if (parent) {
		char target[80];

		/* The final level is the images directory: its parent is next to it. */
		snprintf(target, sizeof(target), "%s%s", strcmp(name, ".") ? "../" : "", parent);
		if (symlinkat(target, l->dirfd, "parent")) {
			err = -errno;
			pr_err("%s/%s: cannot link its parent %s: %s", dir, name, target,
			       strerror(-err));
			return err;
		}
	}
	return 0;
}

static struct mlevel_proc *find_proc(struct mlevel *l, pid_t pid)
{
	for (size_t i = 0; i < l->nr_procs; i++)
		if (l->procs[i].pid == pid)
			return &l->procs[i];
	return NULL;
}

/* The present runs of the pagemap in @data, and its pages file created. */
static int add_pagemap(struct mlevel *l, const char *name, pid_t pid, const void *data, size_t len)
{
	struct mlevel_proc *p;
	struct img *img = NULL;
	ProtobufCMessage *m;
	char pages[64];
	size_t cap = 0;
	int err;

	if (find_proc(l, pid)) {
		pr_err("%s/%s: sent twice", l->name, name);
		return -EEXIST;
	}
	p = realloc(l->procs, (l->nr_procs + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	l->procs = p;
	p = &l->procs[l->nr_procs++];
	*p = (struct mlevel_proc){ .pid = pid, .pages_fd = -1 };
	err = img_open_mem(&img, name, data, len, IMG_PAGEMAP);
	if (err)
		return err;
	err = img_read_entry(img, &m);
	if (err != 1) {
		pr_err("%s/%s: no pagemap head", l->name, name);
		err = err < 0 ? err : -EINVAL;
		goto out;
	}
	snprintf(pages, sizeof(pages), "pages-%u.img", ((PagemapHead *)m)->pages_id);
	protobuf_c_message_free_unpacked(m, NULL);
	while ((err = img_read_entry(img, &m)) == 1) {
		PagemapEntry *e = (PagemapEntry *)m;
		uint32_t flags = e->has_flags ? e->flags : (e->in_parent ? PE_PARENT : PE_PRESENT);
		struct mlevel_run r = { .vaddr = e->vaddr,
					.nr = e->has_nr_pages ? e->nr_pages : e->compat_nr_pages };

		protobuf_c_message_free_unpacked(m, NULL);
		if (!(flags & PE_PRESENT) || (flags & PE_PARENT) || !r.nr)
			continue;
		if (p->nr_runs == cap) {
			struct mlevel_run *v =
				realloc(p->runs, (cap = cap ? 2 * cap : 64) * sizeof(*v));

			if (!v) {
				err = -ENOMEM;
				break;
			}
			p->runs = v;
		}
		p->runs[p->nr_runs++] = r;
	}
	if (err < 0 || l->remote)
		goto out; /* remote: no pages file, the restore asks the page server */
	p->pages_fd = openat(l->dirfd, pages, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	err = p->pages_fd < 0 ? -errno : 0;
	if (err)
		pr_err("%s/%s: cannot create: %s", l->name, pages, strerror(-err));
	if (!err && l->copies)
		err = mcopies_add_file(l->copies, p->pages_fd, &p->copy_file);
out:
	img_close(img);
	return err;
}

int mlevel_image(struct mlevel *l, const char *name, const void *data, size_t len)
{
	int fd, err, pid = 0, end = 0;

	fd = openat(l->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		pr_err("%s/%s: cannot create (sent twice?): %s", l->name, name, strerror(-err));
		return err;
	}
	err = write_full(fd, data, len);
	if (close(fd) && !err)
		err = -errno;
	if (err) {
		pr_err("%s/%s: cannot write: %s", l->name, name, strerror(-err));
		return err;
	}
	if (sscanf(name, "pagemap-%d.img%n", &pid, &end) == 1 && !name[end] && pid > 0)
		err = add_pagemap(l, name, pid, data, len);
	return err;
}

int mlevel_page(struct mlevel *l, pid_t pid, uint64_t addr, const void *data)
{
	struct mlevel_proc *p = find_proc(l, pid);
	uint64_t want;

	if (!p) {
		pr_err("%s: pid %d: page 0x%llx, but no pagemap of pid %d came in this section",
		       l->name, pid, (unsigned long long)addr, pid);
		return -EPROTO;
	}
	if (p->cur == p->nr_runs) {
		pr_err("%s: pid %d: page 0x%llx is one more than its pagemap has", l->name, pid,
		       (unsigned long long)addr);
		return -EPROTO;
	}
	want = p->runs[p->cur].vaddr + p->in_run * PAGE;
	if (addr != want) {
		pr_err("%s: pid %d: page 0x%llx came where its pagemap expects 0x%llx", l->name,
		       pid, (unsigned long long)addr, (unsigned long long)want);
		return -EPROTO;
	}
	if (data && pwrite(p->pages_fd, data, PAGE, (off_t)p->off) != PAGE) {
		int err = errno ? -errno : -EIO;

		pr_err("%s: pid %d: cannot write page 0x%llx at offset %llu of its pages file: %s",
		       l->name, pid, (unsigned long long)addr, (unsigned long long)p->off,
		       strerror(-err));
		return err;
	}
	if (l->copies && mcopies_put(l->copies, pid, addr, p->copy_file, p->off))
		return -ENOMEM;
	p->off += PAGE;
	l->pages++;
	l->zero_pages += !data;
	if (++p->in_run == p->runs[p->cur].nr) {
		p->cur++;
		p->in_run = 0;
	}
	return 0;
}

int mlevel_page_xbzrle(struct mlevel *l, pid_t pid, uint64_t addr, const uint8_t *delta, size_t len)
{
	uint8_t page[PAGE];
	const char *why = "";
	size_t bad = 0;
	int err;

	if (!l->copies) {
		pr_err("%s: pid %d: an XBZRLE delta for page 0x%llx, but none were agreed on",
		       l->name, pid, (unsigned long long)addr);
		return -EPROTO;
	}
	err = mcopies_read(l->copies, pid, addr, page);
	if (err == -ENOENT) {
		pr_err("%s: pid %d: an XBZRLE delta for page 0x%llx, which was never received "
		       "before",
		       l->name, pid, (unsigned long long)addr);
		return -EPROTO;
	}
	if (err) {
		pr_err("%s: pid %d: cannot read the earlier copy of page 0x%llx: %s", l->name, pid,
		       (unsigned long long)addr, strerror(-err));
		return err;
	}
	if (xbzrle_apply(delta, len, page, PAGE, &bad, &why)) {
		pr_err("%s: pid %d: the XBZRLE delta for page 0x%llx is refused at its octet %zu: "
		       "%s",
		       l->name, pid, (unsigned long long)addr, bad, why);
		return -EPROTO;
	}
	err = mlevel_page(l, pid, addr, page);
	l->xbzrle_pages += !err;
	return err;
}

int mlevel_close(struct mlevel *l)
{
	int err = 0;

	for (size_t i = 0; i < l->nr_procs && !err; i++) {
		struct mlevel_proc *p = &l->procs[i];

		if (l->remote) {
			for (size_t k = p->cur; k < p->nr_runs; k++)
				l->remote_pages += p->runs[k].nr - (k == p->cur ? p->in_run : 0);
			p->cur = p->nr_runs;
		}
		if (p->cur < p->nr_runs) {
			pr_err("%s: pid %d: the section ended without page 0x%llx of its pagemap",
			       l->name, p->pid,
			       (unsigned long long)(p->runs[p->cur].vaddr + p->in_run * PAGE));
			err = -EPROTO;
			break;
		}
		/* Zero pages at the end are a hole too. */
		if (p->pages_fd >= 0 && ftruncate(p->pages_fd, (off_t)p->off)) {
			err = -errno;
			pr_err("%s: pid %d: cannot size its pages file to %llu: %s", l->name,
			       p->pid, (unsigned long long)p->off, strerror(-err));
		}
	}
	mlevel_free(l);
	return err;
}

void mlevel_free(struct mlevel *l)
{
	for (size_t i = 0; i < l->nr_procs; i++) {
		if (l->procs[i].pages_fd >= 0)
			close(l->procs[i].pages_fd);
		free(l->procs[i].runs);
	}
	free(l->procs);
	l->procs = NULL;
	l->nr_procs = 0;
	if (l->dirfd >= 0)
		close(l->dirfd);
	l->dirfd = -1;
}
