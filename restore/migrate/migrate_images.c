// SPDX-License-Identifier: MIT
/*
 * The destination's last step before restore (migrate_recv.h): the final
 * dump's pagemaps name every page of the tree, copied in the final section
 * (PE_PRESENT) or earlier (PE_PARENT, "as in the previous round"); both are
 * in the page store by now. Each pagemap is rewritten flat, every run
 * PE_PRESENT, with a pages file filled from the store: an ordinary dump
 * directory, no parent chain.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "migrate: "
#include "img.h"
#include "log.h"
#include "migrate_recv.h"
#include "migrate_store.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"

#define PAGE 4096u

/* One run of a pagemap, as the dump wrote it. */
struct prun {
	uint64_t vaddr, nr;
	uint32_t flags;
};

static int read_runs(int dirfd, const char *dir, const char *name, uint32_t *pages_id,
		     struct prun **runs, size_t *nr)
{
	struct img *img = NULL;
	ProtobufCMessage *m;
	size_t cap = 0;
	int err = img_open(&img, dirfd, name, IMG_PAGEMAP);

	*runs = NULL;
	*nr = 0;
	if (err) {
		pr_err("%s/%s: cannot open: %s", dir, name, strerror(-err));
		return err;
	}
	err = img_read_entry(img, &m);
	if (err != 1) {
		pr_err("%s/%s: no pagemap head", dir, name);
		err = err < 0 ? err : -EINVAL;
		goto out;
	}
	*pages_id = ((PagemapHead *)m)->pages_id;
	protobuf_c_message_free_unpacked(m, NULL);
	while ((err = img_read_entry(img, &m)) == 1) {
		PagemapEntry *e = (PagemapEntry *)m;

		if (*nr == cap) {
			struct prun *r = realloc(*runs, (cap = cap ? 2 * cap : 64) * sizeof(*r));

			if (!r) {
				protobuf_c_message_free_unpacked(m, NULL);
				err = -ENOMEM;
				break;
			}
			*runs = r;
		}
		(*runs)[(*nr)++] = (struct prun){
			.vaddr = e->vaddr,
			.nr = e->has_nr_pages ? e->nr_pages : e->compat_nr_pages,
			.flags = e->has_flags ? e->flags : (e->in_parent ? PE_PARENT : PE_PRESENT),
		};
		protobuf_c_message_free_unpacked(m, NULL);
	}
out:
	img_close(img);
	return err < 0 ? err : 0;
}

static int write_proc(int dirfd, const char *dir, const char *name, pid_t pid,
		      const struct mstore *st)
{
	char pages_name[64];
	struct img *pm = NULL, *pg = NULL;
	struct prun *runs = NULL;
	uint32_t pages_id = 0;
	uint8_t buf[PAGE];
	size_t nr = 0;
	int err;

	err = read_runs(dirfd, dir, name, &pages_id, &runs, &nr);
	if (err)
		goto out;
	snprintf(pages_name, sizeof(pages_name), "pages-%u.img", pages_id);
	err = img_create(&pm, dirfd, name, IMG_PAGEMAP);
	if (!err)
		err = img_create(&pg, dirfd, pages_name, IMG_PAGES);
	if (err) {
		pr_err("%s: pid %d: cannot create its pagemap and pages images: %s", dir, pid,
		       strerror(-err));
		goto out;
	}
	{
		PagemapHead h = PAGEMAP_HEAD__INIT;

		h.pages_id = pages_id;
		err = img_write_entry(pm, &h.base);
	}
	for (size_t i = 0; i < nr && !err; i++) {
		PagemapEntry e = PAGEMAP_ENTRY__INIT;
		uint32_t flags = runs[i].flags;

		if (flags & (PE_PRESENT | PE_PARENT))
			flags = (flags & ~(PE_PARENT | PE_LAZY)) | PE_PRESENT;
		e.vaddr = runs[i].vaddr;
		e.compat_nr_pages = (uint32_t)runs[i].nr;
		e.has_nr_pages = 1;
		e.nr_pages = runs[i].nr;
		e.has_flags = 1;
		e.flags = flags;
		err = img_write_entry(pm, &e.base);
		for (uint64_t k = 0; !err && (flags & PE_PRESENT) && k < runs[i].nr; k++) {
			uint64_t addr = runs[i].vaddr + k * PAGE;

			err = mstore_get(st, pid, addr, buf);
			if (err == -ENOENT)
				pr_err("%s/%s: pid %d: page 0x%llx is in the dump but was never sent",
				       dir, name, pid, (unsigned long long)addr);
			if (!err)
				err = img_write_raw(pg, buf, PAGE);
		}
	}
	if (!err) {
		err = img_commit(pg);
		pg = NULL;
	}
	if (!err) {
		err = img_commit(pm);
		pm = NULL;
	}
	if (err)
		pr_err("%s: pid %d: cannot write its memory images: %s", dir, pid, strerror(-err));
out:
	if (pg)
		img_abort(pg);
	if (pm)
		img_abort(pm);
	free(runs);
	return err;
}

int migrate_write_pages(int dirfd, const char *dir, const struct mstore *st)
{
	int fd = dup(dirfd), err = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	pid_t *pids = NULL;
	size_t nr = 0;

	if (!d) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		pr_err("%s: cannot list: %s", dir, strerror(-err));
		return err;
	}
	/* The list first: rewriting renames files into the directory being read. */
	while (!err && (de = readdir(d))) {
		int pid = 0, end = 0;
		pid_t *p;

		if (sscanf(de->d_name, "pagemap-%d.img%n", &pid, &end) != 1 || de->d_name[end] ||
		    pid <= 0)
			continue;
		p = realloc(pids, (nr + 1) * sizeof(*p));
		if (!p) {
			err = -ENOMEM;
			break;
		}
		pids = p;
		pids[nr++] = pid;
	}
	closedir(d);
	for (size_t i = 0; i < nr && !err; i++) {
		char name[64];

		snprintf(name, sizeof(name), "pagemap-%d.img", pids[i]);
		err = write_proc(dirfd, dir, name, pids[i], st);
	}
	free(pids);
	return err;
}
