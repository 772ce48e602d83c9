// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the restore side's image loader (restore/images*.c) on a
 * whole images directory built from arbitrary bytes.
 *
 * The input is a sequence of records, each written as one entry of a fresh
 * directory before rimg_load() runs on it:
 *
 *   u8 kind | u32 id (LE) | u32 len (LE) | len bytes   (len is cut to what is left)
 *
 * kind & 0x3f picks a name of names[] below (modulo its size); a "%u" in the
 * name is replaced by id, which other names ignore. kind >> 6 picks what is
 * made: 0 a regular file holding the bytes, 1 a symlink to inventory.img, 2 an
 * empty directory, 3 a regular file holding the bytes in the subdirectory "p"
 * (a parent image set: a real pre-dump chain). A later record of the same
 * name (in the same directory) replaces an earlier one.
 * pages-%u.img is the exception to "holding the bytes": its first (up to) 8
 * bytes are a LE file size, and the file is made that size, sparse, with
 * ftruncate() (masked below 1 GiB). The loader only checks the size of a pages
 * file, and so a dump of a few MiB of memory fits in a small input. "parent"
 * as a regular-file record (mode 0 or 3) is made a symlink: to "p" when id is
 * odd (the top directory's parent is then the set in "p"; "p/parent" -> "p"
 * leads nowhere), to "." otherwise (a chain that loops).
 *
 * On a successful load rcgroup_load() reads cgroup.img (restore/cgroup.h), and
 * every lookup (rimg_find_page, rimg_file, rimg_tty_info,
 * rimg_pipe_data, rimg_fifo) is exercised and the guarantees images.h documents (file
 * locks included) are
 * checked; a broken one aborts, as does a descriptor rimg_load()/rimg_free()
 * leave open. FERRY_FUZZ_DEBUG=1 in the environment logs at debug level and
 * prints rimg_load()'s result, to see why a seed is refused.
 * The seeds (corpus/fuzz_restore_images/) are real dumps of the workloads
 * ("sysv-shm": the shmem workload's SysV segments, kinds SP, contents in
 * pagemap-shmem as CRIU 4.x writes them; "sysv-shm-inline": the same with
 * the contents inline, as ferry writes them; "shmem-parent": a dump of the
 * shmwrite workload over a pre-dump, its shared pages PE_PARENT; "pty",
 * "pidfd", "gone", "bpfmap", "aio": the kept workload's kinds; "unixsk-ext":
 * the unixext workload dumped with --ext-unix-sk, two USK_EXTERN entries).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpfmap.h"
#include "cgroup.h"
#include "file_lock.h"
#include "images.h"
#include "log.h"
#include "pagemap_flags.h"
#include "ghost.h"
#include "shmem.h"

#define DIR_PREFIX "ferry-fuzz-rimg-"
#define MAX_RECORDS 64
#define PAGES_MAX (1ull << 30)
#define PAGE 4096ull

/* Record kinds: the names a dump's loader reads, in the order of the format. */
enum {
	K_INVENTORY,
	K_PSTREE,
	K_CORE,
	K_MM,
	K_PAGEMAP,
	K_PAGES,
	K_FILES,
	K_FDINFO,
	K_FS,
	K_PIPES_DATA,
	K_TTY_INFO,
	K_PARENT,
	K_FILE_LOCKS, /* after K_PARENT: the seeds' kind numbers stay what they were */
	K_CGROUP,     /* read by rcgroup_load() after a successful rimg_load() */
	K_SHMEM_PAGEMAP,
	K_REMAP_FPATH,
	K_GHOST_FILE,
	K_MEMFD_INODE,
	K_SK_QUEUES, /* the unix sockets' queued messages (files.img holds the sockets) */
	K_IPCNS_SHM,
	K_FIFO_DATA,   /* named FIFOs' bytes */
	K_TTY_DATA,    /* the bytes queued in ptys whose master the tree holds */
	K_BPFMAP_DATA, /* the elements of BPF maps */
	K_TCP_STREAM,  /* an established connection's state and queues (files.img isk) */
	NR_KINDS,
};

static const char *const names[NR_KINDS] = {
	[K_INVENTORY] = "inventory.img",
	[K_PSTREE] = "pstree.img",
	[K_CORE] = "core-%u.img",
	[K_MM] = "mm-%u.img",
	[K_PAGEMAP] = "pagemap-%u.img",
	[K_PAGES] = "pages-%u.img",
	[K_FILES] = "files.img",
	[K_FDINFO] = "fdinfo-%u.img",
	[K_FS] = "fs-%u.img",
	[K_PIPES_DATA] = "pipes-data.img",
	[K_TTY_INFO] = "tty-info.img",
	[K_PARENT] = "parent",
	[K_FILE_LOCKS] = "filelocks.img",
	[K_CGROUP] = "cgroup.img",
	[K_SHMEM_PAGEMAP] = "pagemap-shmem-%u.img",
	[K_REMAP_FPATH] = "remap-fpath.img",
	[K_GHOST_FILE] = "ghost-file-%x.img",
	[K_MEMFD_INODE] = "memfd.img",
	[K_SK_QUEUES] = "sk-queues.img",
	[K_IPCNS_SHM] = "ipcns-shm-%u.img",
	[K_FIFO_DATA] = "fifo-data.img",
	[K_TTY_DATA] = "tty-data.img",
	[K_BPFMAP_DATA] = "bpfmap-data.img",
	[K_TCP_STREAM] = "tcp-stream-%x.img",
};

static char dir[64];
static int dir_fd = -1;
static DIR *fd_dir; /* /proc/self/fd, to count open descriptors */
static int debug;

static uint32_t get_le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static size_t count_fds(void)
{
	size_t n = 0;

	rewinddir(fd_dir);
	while (readdir(fd_dir))
		n++;
	return n;
}

/* Remove everything in directory @fd (records make files, symlinks, directories). */
static void empty_dir(int fd)
{
	int own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (own < 0)
		abort();
	d = fdopendir(own);
	if (!d)
		abort();
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(fd, de->d_name, 0) && errno == EISDIR) {
			int sub = openat(fd, de->d_name,
					 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

			if (sub >= 0) {
				empty_dir(sub);
				close(sub);
			}
			unlinkat(fd, de->d_name, AT_REMOVEDIR);
		}
	}
	closedir(d);
}

static void remove_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return;
	empty_dir(fd);
	close(fd);
	rmdir(path);
}

static void cleanup(void)
{
	if (dir_fd < 0)
		return;
	close(dir_fd);
	dir_fd = -1;
	remove_dir(dir);
}

/* Directories left by fuzzer processes that died (a crash skips atexit). */
static void remove_stale(const char *base)
{
	char path[128];
	struct dirent *de;
	DIR *d = opendir(base);

	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long pid;

		if (strncmp(de->d_name, DIR_PREFIX, strlen(DIR_PREFIX)))
			continue;
		pid = strtol(de->d_name + strlen(DIR_PREFIX), &end, 10);
		if (*end || pid <= 0 || !kill((pid_t)pid, 0) || errno != ESRCH)
			continue; /* not ours, or its fuzzer still runs */
		snprintf(path, sizeof(path), "%s/%s", base, de->d_name);
		remove_dir(path);
	}
	closedir(d);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = "/dev/shm";
	const char *env = getenv("FERRY_FUZZ_DEBUG");
	struct stat st;

	debug = env && *env && strcmp(env, "0");
	/* Errors are expected: keep the run readable unless asked. */
	log_init(NULL, debug ? LOG_DEBUG : LOG_MSG, 0);
	if (stat(base, &st) || !S_ISDIR(st.st_mode))
		base = "/tmp";
	remove_stale(base);
	snprintf(dir, sizeof(dir), "%s/" DIR_PREFIX "%d", base, (int)getpid());
	remove_dir(dir); /* a stale one of a recycled pid */
	if (mkdir(dir, 0700)) {
		fprintf(stderr, "fuzz_restore_images: cannot create %s: %s\n", dir,
			strerror(errno));
		abort();
	}
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fd_dir = opendir("/proc/self/fd");
	if (dir_fd < 0 || !fd_dir) {
		fprintf(stderr, "fuzz_restore_images: cannot open %s or /proc/self/fd: %s\n", dir,
			strerror(errno));
		abort();
	}
	atexit(cleanup);
	return 0;
}

static void write_record(unsigned int kind, uint32_t id, const uint8_t *data, size_t len)
{
	unsigned int idx = (kind & 0x3f) % NR_KINDS, mode = kind >> 6;
	char name[64];
	int fd, at = dir_fd;

	if (mode == 3) {
		/* "p" may be a file or a symlink an earlier record made: then it is replaced. */
		at = openat(dir_fd, "p", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (at < 0) {
			unlinkat(dir_fd, "p", 0);
			if (mkdirat(dir_fd, "p", 0700))
				abort();
			at = openat(dir_fd, "p", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			if (at < 0)
				abort();
		}
	}
	snprintf(name, sizeof(name), names[idx], id);
	if (unlinkat(at, name, 0) && errno == EISDIR) {
		int sub = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

		if (sub >= 0) {
			empty_dir(sub);
			close(sub);
		}
		unlinkat(at, name, AT_REMOVEDIR);
	}
	if (mode == 1) {
		symlinkat("inventory.img", at, name);
		goto out;
	}
	if (mode == 2) {
		mkdirat(at, name, 0700);
		goto out;
	}
	if (idx == K_PARENT) {
		symlinkat(id & 1 ? "p" : ".", at, name);
		goto out;
	}
	fd = openat(at, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		abort();
	if (idx == K_PAGES) {
		uint64_t size = 0;

		for (size_t i = 0; i < len && i < 8; i++)
			size |= (uint64_t)data[i] << (8 * i);
		if (ftruncate(fd, (off_t)(size & (PAGES_MAX - 1))))
			abort();
	} else {
		while (len) {
			ssize_t n = write(fd, data, len);

			if (n <= 0)
				abort();
			data += n;
			len -= (size_t)n;
		}
	}
	close(fd);
out:
	if (at != dir_fd)
		close(at);
}

static void build_dir(const uint8_t *data, size_t size)
{
	for (int nr = 0; size >= 9 && nr < MAX_RECORDS; nr++) {
		unsigned int kind = data[0];
		uint32_t id = get_le32(data + 1);
		size_t len = get_le32(data + 5);

		data += 9;
		size -= 9;
		if (len > size)
			len = size;
		write_record(kind, id, data, len);
		data += len;
		size -= len;
	}
}

#define CHECK(cond)                                                                           \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "fuzz_restore_images: %s:%d: broken guarantee: %s\n", \
				__FILE__, __LINE__, #cond);                                   \
			abort();                                                              \
		}                                                                             \
	} while (0)

static void check_pagemap(const struct rimg_proc *p)
{
	const struct rimg_pagemap *pm = p->pm;

	CHECK(pm);
	for (size_t i = 0; i < pm->nr_runs; i++) {
		const struct rimg_page_run *run = &pm->runs[i];
		uint64_t last = run->vaddr + (run->nr_pages - 1) * PAGE;

		CHECK(!(run->vaddr & (PAGE - 1)) && run->nr_pages);
		CHECK(run->nr_pages <= (UINT64_MAX - run->vaddr) / PAGE);
		CHECK(!i || run->vaddr >= pm->runs[i - 1].vaddr + pm->runs[i - 1].nr_pages * PAGE);
		if (run->flags & PE_PRESENT)
			CHECK(pm->pages_fd >= 0 &&
			      run->file_off + run->nr_pages * PAGE <= pm->pages_size);
		if (run->flags & PE_PARENT) {
			const struct rimg_pages_file *pf;

			CHECK(run->level >= 1 && run->level < pm->nr_files);
			pf = &pm->files[run->level];
			CHECK(pf->fd >= 0 && run->file_off + run->nr_pages * PAGE <= pf->size);
		}
		CHECK(rimg_find_page(pm, run->vaddr) == run);
		CHECK(rimg_find_page(pm, last + PAGE - 1) == run);
		if (run->vaddr)
			CHECK(rimg_find_page(pm, run->vaddr - 1) != run);
	}
	/* Arbitrary addresses: whatever is found must hold them. */
	for (size_t i = 0; p->mm && i < p->mm->n_vmas; i++) {
		uint64_t a[] = { p->mm->vmas[i]->start, p->mm->vmas[i]->end - 1,
				 p->mm->vmas[i]->end };

		for (size_t k = 0; k < sizeof(a) / sizeof(a[0]); k++) {
			const struct rimg_page_run *run = rimg_find_page(pm, a[k]);

			CHECK(!run ||
			      (a[k] >= run->vaddr && a[k] - run->vaddr < run->nr_pages * PAGE));
		}
	}
}

static void check_model(const struct rimg *r)
{
	volatile uint8_t sink = 0;

	CHECK(r->inv && r->nr_procs && r->procs[0].parent == -1);
	for (size_t i = 0; i < r->nr_files; i++)
		CHECK(rimg_file(r, r->files[i]->id) == r->files[i]);
	for (size_t i = 0; i < r->nr_ttys; i++)
		CHECK(rimg_tty_info(r, r->ttys[i]->id));
	for (size_t i = 0; i < r->nr_procs; i++) {
		const struct rimg_proc *p = &r->procs[i];

		CHECK(i == 0 || (p->parent >= 0 && (size_t)p->parent < r->nr_procs));
		CHECK(p->nr_threads && p->threads[0].tid == p->pid);
		for (size_t k = 0; k < p->nr_threads; k++)
			CHECK(p->threads[k].core && p->threads[k].core->thread_info);
		CHECK(p->threads[0].core->tc && p->threads[0].core->ids);
		CHECK(p->mm && p->fs);
		CHECK(rimg_file(r, p->fs->cwd_id) && rimg_file(r, p->fs->root_id));
		for (size_t k = 0; k < p->nr_fds; k++) {
			const FileEntry *f = rimg_file(r, p->fds[k]->id);

			CHECK(f && f->type == p->fds[k]->type);
		}
		check_pagemap(p);
	}
	for (size_t i = 0; i < r->nr_files; i++) {
		const FileEntry *f = r->files[i];
		const void *data;
		size_t len;

		if (f->type == FD_TYPES__PIPE && !rimg_pipe_data(r, f->pipe->pipe_id, &data, &len))
			for (size_t k = 0; k < len; k++) /* every byte must be mapped */
				sink ^= ((const uint8_t *)data)[k];
		if (f->type == FD_TYPES__TTY)
			CHECK(rimg_tty_info(r, f->tty->tty_info_id));
		if (f->type == FD_TYPES__FIFO) { /* its path entry is a regular file's */
			const FileEntry *rf =
				f->fifo->has_regf_id ? rimg_file(r, f->fifo->regf_id) : NULL;

			CHECK(rf && rf->type == FD_TYPES__REG);
		}
	}
	for (size_t i = 0; i < r->nr_tty_data; i++) { /* each on an end of a pty pair */
		const FileEntry *f = rimg_file(r, r->tty_data[i]->tty_id);

		CHECK(f && f->type == FD_TYPES__TTY && rimg_tty_pair(r, f->tty->tty_info_id));
		CHECK(r->tty_data[i]->data.len <= 4096);
	}
	for (size_t i = 0; i < r->nr_bpf; i++) { /* each of a BPF map of files.img */
		const FileEntry *f = NULL;

		for (size_t k = 0; k < r->nr_files; k++)
			if (r->files[k]->type == FD_TYPES__BPFMAP &&
			    r->files[k]->bpf->map_id == r->bpf[i].map_id)
				f = r->files[k];
		CHECK(f && r->bpf[i].count <= f->bpf->max_entries);
		for (size_t k = 0; f && k < (size_t)r->bpf[i].count * f->bpf->key_size; k++)
			sink ^= r->bpf[i].keys[k]; /* every byte must be mapped */
		for (size_t k = 0; f && k < (size_t)r->bpf[i].count * f->bpf->value_size; k++)
			sink ^= r->bpf[i].values[k];
	}
	for (size_t i = 0; i < r->nr_fifos; i++) {
		const struct rimg_pipe_data *pd = rimg_fifo(r, r->fifos[i].pipe_id);

		CHECK(pd == &r->fifos[i] && (pd->len == 0 || pd->data));
		for (size_t k = 0; k < pd->len; k++) /* every byte must be mapped */
			sink ^= ((const uint8_t *)pd->data)[k];
	}
	for (size_t i = 0; i < r->nr_pipes; i++) {
		const void *data;
		size_t len;

		CHECK(!rimg_pipe_data(r, r->pipes[i].pipe_id, &data, &len));
		CHECK(len == r->pipes[i].len && (len == 0 || data));
	}
	for (size_t i = 0; i < r->nr_skq; i++) { /* each for a unix socket, its bytes mapped */
		const FileEntry *f = rimg_file(r, r->skq[i].id_for);

		CHECK(f && f->type == FD_TYPES__UNIXSK && f->usk);
		for (size_t k = 0; k < r->skq[i].len; k++)
			sink ^= ((const uint8_t *)r->skq[i].data)[k];
	}
	for (size_t i = 0; i < r->nr_locks; i++) {
		const FileLockEntry *l = r->locks[i];
		int has_fd = 0;

		CHECK(l->flag == FILE_LOCK_POSIX || l->flag == FILE_LOCK_OFD ||
		      l->flag == FILE_LOCK_FLOCK);
		CHECK(l->type == F_RDLCK || l->type == F_WRLCK);
		CHECK(l->start >= 0 && l->len >= 0);
		for (size_t p = 0; p < r->nr_procs; p++)
			for (size_t k = 0; r->procs[p].pid == l->pid && k < r->procs[p].nr_fds; k++)
				has_fd |= (int64_t)r->procs[p].fds[k]->fd == l->fd;
		CHECK(has_fd);
	}
	/* Shared memory (shmem.h): runs in order, inside the object, in the pages file. */
	for (size_t i = 0; i < r->nr_shmem; i++) {
		const struct rimg_shmem *s = &r->shmem[i];
		uint64_t end = 0, used = 0;

		CHECK((s->shmid || s->sysv) && !(s->size & (PAGE - 1)) && s->fd == -1);
		CHECK(!s->memfd || (s->memfd->shmid == s->shmid && s->memfd->size <= s->size));
		/* A SysV segment: its ipcns-shm entry, the VMAs' size, not made yet. */
		CHECK(!s->sysv ||
		      (!s->memfd && s->sysv->desc->id == s->shmid && s->sysv_id == -1 &&
		       (s->sysv->has_in_pagemaps && s->sysv->in_pagemaps) == !s->sysv_data &&
		       s->size == ((s->sysv->size + PAGE - 1) & ~(PAGE - 1))));
		/* Contents inline in ipcns-shm: no pagemap-shmem runs. */
		CHECK(!s->sysv_data || (!s->nr_runs && s->pages_fd == -1));
		for (size_t k = 0; k < s->nr_runs; k++) {
			const struct rimg_page_run *run = &s->runs[k];

			CHECK(run->nr_pages && run->vaddr >= end && !(run->vaddr & (PAGE - 1)));
			CHECK(run->vaddr + run->nr_pages * PAGE <= s->size);
			/* PE_PARENT: a present run of the pagemap-shmem of a level of the chain. */
			CHECK((run->flags == PE_PRESENT && !run->level && run->file_off == used) ||
			      (run->flags == PE_PARENT && run->level >= 1 &&
			       run->level <= s->nr_levels && s->level_fds[run->level - 1] >= 0));
			end = run->vaddr + run->nr_pages * PAGE;
			if (run->flags == PE_PRESENT)
				used += run->nr_pages * PAGE;
		}
		CHECK(!used || s->pages_fd >= 0);
	}
	/* Deleted files (ghost.h): chunks in order inside the file, on a regular file's path. */
	for (size_t i = 0; i < r->nr_ghosts; i++) {
		const struct rimg_ghost *g = &r->ghosts[i];
		uint64_t end = 0;

		/* A regular file's, or a deleted FIFO's or directory's with no bytes. */
		CHECK(g->ge &&
		      (S_ISREG(g->ge->mode)
			       ? g->ge->size <= RGHOST_MAX
			       : (S_ISFIFO(g->ge->mode) || S_ISDIR(g->ge->mode)) && !g->nr_chunks));
		CHECK(g->path && g->path[0] == '/' && !g->created);
		for (size_t k = 0; k < g->nr_chunks; k++) {
			CHECK(g->chunks[k].off >= end && g->chunks[k].len);
			CHECK(g->chunks[k].off + g->chunks[k].len <= g->ge->size);
			for (uint64_t b = 0; b < g->chunks[k].len; b += 4096)
				sink ^= ((const uint8_t *)g->chunks[k].data)[b];
			end = g->chunks[k].off + g->chunks[k].len;
		}
	}
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rimg *r = NULL;
	size_t fds_before, fds_after;
	int err;

	empty_dir(dir_fd);
	build_dir(data, size);
	fds_before = count_fds();
	err = rimg_load(&r, dir);
	if (debug)
		fprintf(stderr, "fuzz_restore_images: rimg_load(%s) = %d (%s)\n", dir, err,
			strerror(-err));
	if (!err) {
		struct rcgroups cg;
		int cerr;

		CHECK(r);
		check_model(r);
		/* The cgroups of a loaded dump: refused whole or every set found. */
		cerr = rcgroup_load(&cg, r);
		CHECK(cerr <= 0 && (!cerr || !cg.cg));
		rcgroup_free(&cg);
	} else {
		CHECK(!r && err < 0);
	}
	rimg_free(r);
	fds_after = count_fds();
	if (fds_after != fds_before) {
		fprintf(stderr,
			"fuzz_restore_images: %zu descriptors open before rimg_load, %zu after rimg_free (rimg_load returned %d)\n",
			fds_before, fds_after, err);
		abort();
	}
	return 0;
}
