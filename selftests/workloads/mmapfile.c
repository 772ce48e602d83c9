// SPDX-License-Identifier: MIT
/*
 * File mappings whose contents must survive a dump and a restore.
 *   mmapfile DIR [--no-shared]
 * Creates DIR/map (1 MiB; word at file offset O is pattern_word(O, 0xf11e))
 * and maps:
 *  - map:   all of it MAP_PRIVATE, read/write. Every page with index % 3 == 0
 *           is rewritten whole with pattern_word(O, 0xc0de), every page with
 *           index % 7 == 1 (and not % 3 == 0) gets one word changed at
 *           page offset 8 * (index % 512); the others are only read. The
 *           last 64 KiB is then mprotect()ed read-only (a split VMA holding
 *           changed pages).
 *  - view:  the second half of DIR/map (offset 512 KiB), MAP_PRIVATE,
 *           read-only: a nonzero file offset, and pages that map's private
 *           writes must not show through.
 *  - shared (unless --no-shared): DIR/shared (64 KiB) MAP_SHARED read/write,
 *           filled through the mapping with seed 0x5a; then every 20 ms one
 *           page is rewritten through it: at tick T, page T % 16 with seed
 *           0x5a + T.
 * The fds are closed once mapped: only the mappings name the files. Prints
 *   mmapfile: pid P map 0xA view 0xB shared 0xC ready   (shared 0 if off)
 * On SIGUSR1 it checks: map's changed pages hold the changes and its other
 * pages the file pattern; view holds the file pattern; DIR/map on disk still
 * holds the file pattern everywhere; shared holds what the ticks wrote, and
 * DIR/shared on disk equals it. Prints "mmapfile: verify ok ticks T" or
 * "mmapfile: verify BAD <what, where>".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

#define PAGE 4096ul
#define MAP_SIZE (1ul << 20)
#define MAP_PAGES (MAP_SIZE / PAGE)
#define RO_TAIL (64ul << 10)
#define VIEW_OFF (MAP_SIZE / 2)
#define VIEW_SIZE (MAP_SIZE / 2)
#define SHARED_PAGES 16ul
#define SHARED_SIZE (SHARED_PAGES * PAGE)
#define WORDS_PER_PAGE (PAGE / 8)

#define SEED_FILE 0xf11eull
#define SEED_PRIV 0xc0deull
#define SEED_SHARED 0x5aull

static volatile sig_atomic_t verify_req;
static uint64_t *map, *view, *shared;
static uint64_t ticks;
static char map_path[1024], shared_path[1024];

static void on_usr1(int sig)
{
	(void)sig;
	verify_req = 1;
}

static int page_rewritten(size_t pg)
{
	return pg % 3 == 0;
}

static int page_poked(size_t pg)
{
	return !page_rewritten(pg) && pg % 7 == 1;
}

/* What word w (file offset 8 * w) of map must hold. */
static uint64_t want_map(size_t w)
{
	size_t pg = w / WORDS_PER_PAGE, in = w % WORDS_PER_PAGE;

	if (page_rewritten(pg) || (page_poked(pg) && in == pg % WORDS_PER_PAGE))
		return pattern_word(w * 8, SEED_PRIV);
	return pattern_word(w * 8, SEED_FILE);
}

/* The seed page pg of shared was last written with, after ticks t. */
static uint64_t shared_seed(size_t pg, uint64_t t)
{
	uint64_t last;

	/* The last tick s <= t with s % SHARED_PAGES == pg; ticks start at 1. */
	if (t < pg)
		return SEED_SHARED;
	last = t - (t - pg) % SHARED_PAGES;
	return last ? SEED_SHARED + last : SEED_SHARED;
}

static void write_shared_page(size_t pg, uint64_t seed)
{
	for (size_t i = pg * WORDS_PER_PAGE; i < (pg + 1) * WORDS_PER_PAGE; i++)
		shared[i] = pattern_word(i * 8, seed);
}

static void *map_file(const char *path, size_t size, off_t off, int prot, int flags, int create)
{
	void *p = MAP_FAILED;
	int fd;

	fd = open(path, create ? O_RDWR | O_CREAT | O_TRUNC : O_RDONLY, 0644);
	if (fd < 0) {
		fprintf(stderr, "mmapfile: open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (create && ftruncate(fd, (off_t)size)) {
		fprintf(stderr, "mmapfile: ftruncate %s: %s\n", path, strerror(errno));
		goto out;
	}
	p = mmap(NULL, size, prot, flags, fd, off);
	if (p == MAP_FAILED)
		fprintf(stderr, "mmapfile: mmap %s: %s\n", path, strerror(errno));
out:
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

static int create_map_file(void)
{
	uint64_t *buf = malloc(MAP_SIZE);
	int fd = -1, err = 0;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < MAP_SIZE / 8; i++)
		buf[i] = pattern_word(i * 8, SEED_FILE);
	fd = open(map_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, MAP_SIZE) != (ssize_t)MAP_SIZE || fsync(fd)) {
		err = -errno;
		fprintf(stderr, "mmapfile: write %s: %s\n", map_path, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return err;
}

static int setup(int with_shared)
{
	volatile uint64_t sink = 0;

	if (create_map_file())
		return -1;
	map = map_file(map_path, MAP_SIZE, 0, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0);
	view = map_file(map_path, VIEW_SIZE, VIEW_OFF, PROT_READ, MAP_PRIVATE, 0);
	if (!map || !view)
		return -1;
	for (size_t pg = 0; pg < MAP_PAGES; pg++) {
		uint64_t *p = map + pg * WORDS_PER_PAGE;

		if (page_rewritten(pg))
			for (size_t i = 0; i < WORDS_PER_PAGE; i++)
				p[i] = pattern_word((pg * WORDS_PER_PAGE + i) * 8, SEED_PRIV);
		else if (page_poked(pg))
			p[pg % WORDS_PER_PAGE] = pattern_word(
				(pg * WORDS_PER_PAGE + pg % WORDS_PER_PAGE) * 8, SEED_PRIV);
		else
			sink += p[0];
	}
	for (size_t i = 0; i < VIEW_SIZE / 8; i += WORDS_PER_PAGE)
		sink += view[i];
	if (mprotect((char *)map + MAP_SIZE - RO_TAIL, RO_TAIL, PROT_READ)) {
		fprintf(stderr, "mmapfile: mprotect: %s\n", strerror(errno));
		return -1;
	}
	if (!with_shared)
		return 0;
	shared = map_file(shared_path, SHARED_SIZE, 0, PROT_READ | PROT_WRITE, MAP_SHARED, 1);
	if (!shared)
		return -1;
	for (size_t pg = 0; pg < SHARED_PAGES; pg++)
		write_shared_page(pg, SEED_SHARED);
	return 0;
}

static uint64_t *read_file(const char *path, size_t size, char *why, size_t len)
{
	uint64_t *buf = malloc(size);
	int fd = open(path, O_RDONLY);
	ssize_t n = -1;

	if (buf && fd >= 0)
		n = pread(fd, buf, size, 0);
	if (n != (ssize_t)size) {
		snprintf(why, len, "read %s: %s", path, n < 0 ? strerror(errno) : "short read");
		free(buf);
		buf = NULL;
	}
	if (fd >= 0)
		close(fd);
	return buf;
}

static int check(char *why, size_t len)
{
	uint64_t *disk;
	int ok = 0;

	for (size_t w = 0; w < MAP_SIZE / 8; w++)
		if (map[w] != want_map(w)) {
			snprintf(why, len,
				 "map %p (file offset %#zx, %s page) holds %#" PRIx64
				 ", want %#" PRIx64,
				 (void *)&map[w], w * 8,
				 page_rewritten(w / WORDS_PER_PAGE) ? "rewritten"
				 : page_poked(w / WORDS_PER_PAGE)   ? "poked"
								    : "untouched",
				 map[w], want_map(w));
			return 0;
		}
	for (size_t w = 0; w < VIEW_SIZE / 8; w++)
		if (view[w] != pattern_word(VIEW_OFF + w * 8, SEED_FILE)) {
			snprintf(why, len,
				 "view %p (file offset %#zx) holds %#" PRIx64 ", want %#" PRIx64,
				 (void *)&view[w], (size_t)VIEW_OFF + w * 8, view[w],
				 pattern_word(VIEW_OFF + w * 8, SEED_FILE));
			return 0;
		}
	disk = read_file(map_path, MAP_SIZE, why, len);
	if (!disk)
		return 0;
	for (size_t w = 0; w < MAP_SIZE / 8; w++)
		if (disk[w] != pattern_word(w * 8, SEED_FILE)) {
			snprintf(why, len, "%s on disk changed at offset %#zx: %#" PRIx64, map_path,
				 w * 8, disk[w]);
			goto out;
		}
	if (!shared) {
		ok = 1;
		goto out;
	}
	free(disk);
	disk = read_file(shared_path, SHARED_SIZE, why, len);
	if (!disk)
		return 0;
	for (size_t w = 0; w < SHARED_SIZE / 8; w++) {
		uint64_t seed = shared_seed(w / WORDS_PER_PAGE, ticks);

		if (shared[w] != pattern_word(w * 8, seed)) {
			snprintf(why, len,
				 "shared %p (offset %#zx) holds %#" PRIx64 ", want %#" PRIx64
				 " (seed %#" PRIx64 ")",
				 (void *)&shared[w], w * 8, shared[w], pattern_word(w * 8, seed),
				 seed);
			goto out;
		}
		if (disk[w] != shared[w]) {
			snprintf(why, len,
				 "%s on disk at offset %#zx holds %#" PRIx64 ", mapping %#" PRIx64,
				 shared_path, w * 8, disk[w], shared[w]);
			goto out;
		}
	}
	ok = 1;
out:
	free(disk);
	return ok;
}

int main(int argc, char **argv)
{
	struct timespec t = { 0, 20 * 1000 * 1000 };
	int with_shared = !(argc > 2 && !strcmp(argv[2], "--no-shared"));
	char why[4096];

	if (argc < 2 || (argc > 2 && with_shared)) {
		fprintf(stderr, "usage: mmapfile DIR [--no-shared]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_usr1);
	if (snprintf(map_path, sizeof(map_path), "%s/map", argv[1]) >= (int)sizeof(map_path) ||
	    snprintf(shared_path, sizeof(shared_path), "%s/shared", argv[1]) >=
		    (int)sizeof(shared_path)) {
		fprintf(stderr, "mmapfile: %s: path too long\n", argv[1]);
		return 2;
	}
	if (setup(with_shared))
		return 1;
	printf("mmapfile: pid %d map %p view %p shared %p ready\n", getpid(), (void *)map,
	       (void *)view, (void *)shared);
	for (;;) {
		if (verify_req) {
			verify_req = 0;
			if (check(why, sizeof(why)))
				printf("mmapfile: verify ok ticks %" PRIu64 "\n", ticks);
			else
				printf("mmapfile: verify BAD %s\n", why);
		}
		ticks++;
		if (shared)
			write_shared_page(ticks % SHARED_PAGES, SEED_SHARED + ticks);
		nanosleep(&t, NULL);
	}
}
