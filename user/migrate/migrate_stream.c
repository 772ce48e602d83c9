// SPDX-License-Identifier: MIT
/*
 * The sender's side of the stream (migrate_priv.h): sections, areas, and the
 * pages and images of an images directory turned into PDUs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "migrate: "
#include "img.h"
#include "log.h"
#include "migrate_priv.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"
#include "proc_parse.h"
#include "pstree.pb-c.h"
#include "util.h"
#include "xbzrle.h"
#include "vma_iter.h"

/* Encoded PDUs are written in batches of this many octets at least (and at each end mark). */
#define MSEND_BATCH (1u << 20)

int msend_interrupted(void)
{
	sigset_t pend;

	sigpending(&pend);
	if (sigismember(&pend, SIGINT) == 1 || sigismember(&pend, SIGTERM) == 1 ||
	    sigismember(&pend, SIGHUP) == 1) {
		pr_err("interrupted by a signal: giving up the migration");
		return -EINTR;
	}
	return 0;
}

/* Write what is encoded so far. */
static int flush(struct msend *s)
{
	uint64_t t0 = mono_us();
	size_t len = s->c.enc.len;
	int err = msend_interrupted();

	if (!err && len)
		err = mig_send(&s->c, &s->c.enc);
	if (!err && len && s->o->max_bandwidth) {
		/* --max-bandwidth: no faster on average than the limit since the section began. */
		uint64_t due = s->t_pace +
			       (s->c.sent - s->pace_sent) * 1000000 / s->o->max_bandwidth,
			 now;

		while (!err && (now = mono_us()) < due) {
			usleep((useconds_t)(due - now < 100000 ? due - now : 100000));
			err = msend_interrupted();
		}
	}

	if (!err)
		s->st.bytes += len;
	s->st.send_us += mono_us() - t0;
	return err;
}

/* One more PDU of the section is encoded: count it, write the batch when it is full. */
static int send_pdu(struct msend *s)
{
	if (s->c.enc.err)
		return s->c.enc.err;
	s->items++;
	return s->c.enc.len >= MSEND_BATCH ? flush(s) : 0;
}

int msend_section(struct msend *s, enum mig_section_kind kind, uint64_t round)
{
	memset(&s->st, 0, sizeof(s->st));
	s->items = 0;
	s->t_pace = mono_us();
	s->pace_sent = s->c.sent;
	return mig_enc_section(&s->c.enc, kind, round);
}

int msend_postcopy_server(struct msend *s, uint32_t port)
{
	int err = mig_enc_postcopy(&s->c.enc, port);

	return err ? err : send_pdu(s);
}

int msend_end(struct msend *s, uint64_t round)
{
	int err = mig_enc_end(&s->c.enc, round, s->items);

	return err ? err : flush(s);
}

static int add_area(struct msend *s, pid_t pid, uint64_t start, uint64_t end,
		    const struct msend_area **out)
{
	struct msend_area *a;
	int err;

	if (s->nr_areas == s->cap_areas) {
		size_t cap = s->cap_areas ? 2 * s->cap_areas : 64;

		a = realloc(s->areas, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		s->areas = a;
		s->cap_areas = cap;
	}
	a = &s->areas[s->nr_areas];
	*a = (struct msend_area){ .id = s->nr_areas, .pid = pid, .start = start, .end = end };
	err = mig_enc_area(&s->c.enc, a->id, pid, start, (end - start) / MIG_PAGE_SIZE);
	if (err) {
		pr_err("pid %d: cannot encode the area 0x%llx-0x%llx: %s", pid,
		       (unsigned long long)start, (unsigned long long)end, strerror(-err));
		return err;
	}
	err = send_pdu(s);
	if (err)
		return err;
	s->nr_areas++;
	if (out)
		*out = a;
	return 0;
}

static const struct msend_area *find_area(const struct msend *s, pid_t pid, uint64_t addr)
{
	/* The latest declaration wins: a VMA that changed is declared again. */
	for (size_t i = s->nr_areas; i-- > 0;) {
		const struct msend_area *a = &s->areas[i];

		if (a->pid == pid && addr >= a->start && addr < a->end)
			return a;
	}
	return NULL;
}

/* Declare the VMAs of @pid that no area covers yet. */
static int declare_vmas(struct msend *s, pid_t pid)
{
	struct vma_rec *v = NULL;
	size_t n = 0;
	int err = proc_parse_maps(pid, &v, &n);

	if (err) {
		pr_err("pid %d: cannot read its memory map: %s", pid, strerror(-err));
		return err;
	}
	for (size_t i = 0; i < n && !err; i++) {
		const struct msend_area *a = find_area(s, pid, v[i].start);

		if (a && a->start == v[i].start && a->end == v[i].end)
			continue;
		err = add_area(s, pid, v[i].start, v[i].end, NULL);
	}
	free(v);
	return err;
}

int msend_tree_areas(struct msend *s)
{
	int err = 0;

	for (size_t i = 0; i < s->nr_pids && !err; i++)
		err = declare_vmas(s, s->pids[i]);
	return err;
}

/* The area holding @addr of @pid: declared now from the maps, or for the run alone. */
static int area_for(struct msend *s, pid_t pid, uint64_t addr, uint64_t run_end,
		    const struct msend_area **out)
{
	*out = find_area(s, pid, addr);
	if (*out)
		return 0;
	/* A VMA mapped since the last declaration, if it is still there. */
	if (!declare_vmas(s, pid)) {
		*out = find_area(s, pid, addr);
		if (*out)
			return 0;
	}
	/* Gone since its pages were copied (unmapped or moved): an area of the run itself. */
	return add_area(s, pid, addr, run_end, out);
}

static bool page_is_zero(const uint8_t *p)
{
	static const uint8_t zero[MIG_PAGE_SIZE];

	return !memcmp(p, zero, MIG_PAGE_SIZE);
}

/*
 * With XBZRLE: the @k pages at @data (page @addr of @pid on) as elements of
 * an open Pages PDU: zero runs, a delta against the cached copy when the
 * cache has one and the delta is shorter than a page, else the page whole.
 * The cache follows what was sent (migrate_cache.h).
 */
static int encode_xbzrle(struct msend *s, pid_t pid, uint64_t addr, const uint8_t *data, uint32_t k)
{
	uint8_t delta[MIG_MAX_XBZRLE];
	int err = 0;

	for (uint32_t i = 0; i < k && !err;) {
		const uint8_t *page = data + (size_t)i * MIG_PAGE_SIZE, *old;
		uint64_t a = addr + (uint64_t)i * MIG_PAGE_SIZE;
		uint32_t run = 0;
		long n;

		while (i + run < k && page_is_zero(data + (size_t)(i + run) * MIG_PAGE_SIZE)) {
			mcache_update(&s->cache, pid, a + (uint64_t)run * MIG_PAGE_SIZE,
				      data + (size_t)(i + run) * MIG_PAGE_SIZE);
			run++;
		}
		if (run) {
			err = mig_enc_page_zeros(&s->c.enc, run);
			s->st.zero += run;
			i += run;
			continue;
		}
		old = mcache_get(&s->cache, pid, a);
		n = old ? xbzrle_encode(old, page, MIG_PAGE_SIZE, delta, sizeof(delta)) : -ENOSPC;
		if (n >= 0) {
			err = mig_enc_page_xbzrle(&s->c.enc, delta, (size_t)n);
			s->st.xbzrle++;
			s->st.xbzrle_bytes += (uint64_t)n;
		} else {
			err = mig_enc_page_full(&s->c.enc, page);
			s->st.full++;
		}
		mcache_put(&s->cache, pid, a, page);
		i++;
	}
	return err;
}

/* Send @nr pages of @pid at @addr from @data, split at area ends and PDU limits. */
static int send_run(struct msend *s, pid_t pid, uint64_t addr, uint64_t nr, const uint8_t *data)
{
	int err = 0;

	while (nr && !err) {
		const struct msend_area *a;
		uint64_t n, zeros = 0;
		uint32_t k;

		err = area_for(s, pid, addr, addr + nr * MIG_PAGE_SIZE, &a);
		if (err)
			break;
		n = (a->end - addr) / MIG_PAGE_SIZE;
		if (n > nr)
			n = nr;
		if (n > MIG_MAX_PAGE_ITEMS)
			n = MIG_MAX_PAGE_ITEMS;
		k = (uint32_t)n;
		if (s->xbzrle) {
			err = mig_enc_pages_open(&s->c.enc, a->id,
						 (addr - a->start) / MIG_PAGE_SIZE);
			if (!err)
				err = encode_xbzrle(s, pid, addr, data, k);
			if (!err)
				err = mig_enc_pages_close(&s->c.enc);
		} else {
			err = mig_enc_pages(&s->c.enc, a->id, (addr - a->start) / MIG_PAGE_SIZE,
					    data, k);
		}
		if (err) {
			pr_err("pid %d: cannot encode %u pages at 0x%llx: %s", pid, k,
			       (unsigned long long)addr, strerror(-err));
			break;
		}
		for (uint32_t i = 0; i < k && !s->xbzrle; i++)
			zeros += page_is_zero(data + (size_t)i * MIG_PAGE_SIZE);
		err = send_pdu(s);
		if (!s->xbzrle) {
			s->st.full += k - zeros;
			s->st.zero += zeros;
		}
		addr += n * MIG_PAGE_SIZE;
		data += n * MIG_PAGE_SIZE;
		nr -= n;
	}
	return err;
}

static int read_pids(struct msend *s, int dirfd, const char *dir)
{
	struct img *img = NULL;
	ProtobufCMessage *m;
	int err = img_open(&img, dirfd, "pstree.img", IMG_PSTREE);

	if (err) {
		pr_err("%s/pstree.img: cannot open: %s", dir, strerror(-err));
		return err;
	}
	s->nr_pids = 0;
	while ((err = img_read_entry(img, &m)) == 1) {
		pid_t *p = realloc(s->pids, (s->nr_pids + 1) * sizeof(*p));

		if (!p) {
			protobuf_c_message_free_unpacked(m, NULL);
			err = -ENOMEM;
			break;
		}
		s->pids = p;
		s->pids[s->nr_pids++] = (pid_t)((PstreeEntry *)m)->pid;
		protobuf_c_message_free_unpacked(m, NULL);
	}
	img_close(img);
	return err < 0 ? err : 0;
}

/* Send image @name of @dirfd whole. */
static int send_image(struct msend *s, int dirfd, const char *dir, const char *name)
{
	char *data = NULL;
	size_t len = 0;
	int fd, err;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_err("%s/%s: cannot open: %s", dir, name, strerror(-err));
		return err;
	}
	err = read_fd_all(fd, &data, &len, MIG_MAX_IMAGE);
	close(fd);
	if (err) {
		pr_err("%s/%s: cannot read (at most %u bytes are sent whole): %s", dir, name,
		       MIG_MAX_IMAGE, strerror(-err));
		return err;
	}
	err = mig_enc_image(&s->c.enc, name, data, len);
	free(data);
	if (err) {
		pr_err("%s/%s: cannot encode: %s", dir, name, strerror(-err));
		return err;
	}
	s->st.images += len;
	return send_pdu(s);
}

/*
 * The PE_PRESENT runs of pagemap-@pid.img with their data from its pages
 * file, after the pagemap itself if @with_pagemap.
 */
static int send_proc_pages(struct msend *s, int dirfd, const char *dir, pid_t pid, int with_pagemap)
{
	char name[64];
	struct img *img = NULL;
	ProtobufCMessage *m = NULL;
	uint8_t *pages = MAP_FAILED;
	uint64_t off = 0;
	struct stat sb;
	int fd = -1, err;

	snprintf(name, sizeof(name), "pagemap-%d.img", pid);
	if (with_pagemap) {
		err = send_image(s, dirfd, dir, name);
		if (err)
			return err;
	}
	err = img_open(&img, dirfd, name, IMG_PAGEMAP);
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
	snprintf(name, sizeof(name), "pages-%u.img", ((PagemapHead *)m)->pages_id);
	protobuf_c_message_free_unpacked(m, NULL);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb)) {
		err = -errno;
		pr_err("%s/%s: cannot open: %s", dir, name, strerror(-err));
		goto out;
	}
	if (sb.st_size) {
		pages = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (pages == MAP_FAILED) {
			err = -errno;
			pr_err("%s/%s: cannot map: %s", dir, name, strerror(-err));
			goto out;
		}
	}
	while ((err = img_read_entry(img, &m)) == 1) {
		PagemapEntry *e = (PagemapEntry *)m;
		uint64_t nr = e->has_nr_pages ? e->nr_pages : e->compat_nr_pages;
		uint32_t flags = e->has_flags ? e->flags : (e->in_parent ? PE_PARENT : PE_PRESENT);
		uint64_t vaddr = e->vaddr;

		protobuf_c_message_free_unpacked(m, NULL);
		if (!(flags & PE_PRESENT) || (flags & PE_PARENT))
			continue;
		if (nr > ((uint64_t)sb.st_size - off) / MIG_PAGE_SIZE) {
			pr_err("%s/%s: pid %d: the run at 0x%llx of %llu pages goes past the end "
			       "(offset %llu of %lld)",
			       dir, name, pid, (unsigned long long)vaddr, (unsigned long long)nr,
			       (unsigned long long)off, (long long)sb.st_size);
			err = -EINVAL;
			break;
		}
		err = send_run(s, pid, vaddr, nr, pages + off);
		if (err)
			break;
		off += nr * MIG_PAGE_SIZE;
	}
out:
	if (pages != MAP_FAILED)
		munmap(pages, (size_t)sb.st_size);
	if (fd >= 0)
		close(fd);
	img_close(img);
	return err < 0 ? err : 0;
}

static int open_dir(const char *dir)
{
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dirfd < 0) {
		dirfd = -errno;
		pr_err("%s: cannot open: %s", dir, strerror(errno));
	}
	return dirfd;
}

int msend_dir_pids(struct msend *s, const char *dir)
{
	int dirfd = open_dir(dir), err;

	if (dirfd < 0)
		return dirfd;
	err = read_pids(s, dirfd, dir);
	close(dirfd);
	return err;
}

/* @pid is a zombie, or was one and its parent has reaped it since (it had no pagemap). */
static int zombie_or_gone(pid_t pid)
{
	struct proc_stat st;
	int err = proc_parse_stat(pid, 0, &st);

	return err == -ESRCH || (!err && st.state == 'Z');
}

int msend_dir_pages(struct msend *s, const char *dir, int with_pagemaps)
{
	int dirfd = open_dir(dir), err;

	if (dirfd < 0)
		return dirfd;
	err = read_pids(s, dirfd, dir);
	for (size_t i = 0; i < s->nr_pids && !err; i++) {
		char name[64];

		/* A zombie has no memory: a dump or pre-dump writes no pagemap of it. */
		snprintf(name, sizeof(name), "pagemap-%d.img", s->pids[i]);
		if (faccessat(dirfd, name, F_OK, 0) && errno == ENOENT &&
		    zombie_or_gone(s->pids[i])) {
			pr_info("pid %d: a zombie (or reaped since), no pages to send", s->pids[i]);
			continue;
		}
		err = send_proc_pages(s, dirfd, dir, s->pids[i], with_pagemaps);
	}
	/* A round's level is a complete pre-dump for the restore once its inventory is there. */
	if (!err && with_pagemaps)
		err = send_image(s, dirfd, dir, "inventory.img");
	close(dirfd);
	return err;
}

int msend_dir_images(struct msend *s, const char *dir, int with_pagemaps)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int err = 0;

	if (!d) {
		err = -errno;
		pr_err("%s: cannot open: %s", dir, strerror(-err));
		return err;
	}
	while (!err && (de = readdir(d))) {
		const struct img_type *t;

		if (de->d_type != DT_REG)
			continue;
		t = img_type_by_file(de->d_name);
		if (t == IMG_PAGES || (!with_pagemaps && t == IMG_PAGEMAP))
			continue;
		err = send_image(s, dirfd(d), dir, de->d_name);
	}
	closedir(d);
	return err;
}
