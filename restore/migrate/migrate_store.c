// SPDX-License-Identifier: MIT
/* The destination's page store (migrate_store.h): an open-addressing hash over a data file. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "migrate: "
#include "log.h"
#include "migrate_store.h"
#include "util.h"

#define MSTORE_PAGE 4096u

int mstore_open(struct mstore *st, const char *dir)
{
	memset(st, 0, sizeof(*st));
	st->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (st->fd < 0) {
		int err = -errno;

		pr_err("%s: cannot make the page store file: %s", dir, strerror(-err));
		return err;
	}
	return 0;
}

void mstore_close(struct mstore *st)
{
	if (st->fd >= 0)
		close(st->fd);
	st->fd = -1;
	free(st->tab);
	st->tab = NULL;
}

static size_t slot_of(const struct mstore *st, pid_t pid, uint64_t key)
{
	uint64_t h = (key ^ ((uint64_t)(uint32_t)pid << 40)) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 20) & (st->cap - 1);
}

static struct mstore_ent *find(const struct mstore *st, pid_t pid, uint64_t key)
{
	if (!st->cap)
		return NULL;
	for (size_t i = slot_of(st, pid, key);; i = (i + 1) & (st->cap - 1)) {
		struct mstore_ent *e = &st->tab[i];

		if (!e->key)
			return NULL;
		if (e->key == key && e->pid == pid)
			return e;
	}
}

static int grow(struct mstore *st)
{
	size_t cap = st->cap ? st->cap * 2 : 4096;
	struct mstore_ent *tab = calloc(cap, sizeof(*tab)), *old = st->tab;
	size_t old_cap = st->cap;

	if (!tab)
		return -ENOMEM;
	st->tab = tab;
	st->cap = cap;
	for (size_t i = 0; i < old_cap; i++) {
		size_t j;

		if (!old[i].key)
			continue;
		for (j = slot_of(st, old[i].pid, old[i].key); tab[j].key; j = (j + 1) & (cap - 1))
			;
		tab[j] = old[i];
	}
	free(old);
	return 0;
}

static int write_at(struct mstore *st, const void *data, uint64_t off, pid_t pid, uint64_t addr)
{
	ssize_t n = pwrite(st->fd, data, MSTORE_PAGE, (off_t)off);

	if (n == MSTORE_PAGE)
		return 0;
	n = n < 0 ? -errno : -EIO;
	pr_err("pid %d: page 0x%llx: cannot write it to the page store at offset %llu: %s", pid,
	       (unsigned long long)addr, (unsigned long long)off, strerror((int)-n));
	return (int)n;
}

int mstore_put(struct mstore *st, pid_t pid, uint64_t addr, const void *data)
{
	uint64_t key = addr | 1;
	struct mstore_ent *e = find(st, pid, key);
	int err;

	if (e) {
		st->replaced++;
	} else {
		if (st->nr >= MSTORE_MAX_PAGES) {
			pr_err("pid %d: page 0x%llx: more than %u distinct pages: refused", pid,
			       (unsigned long long)addr, MSTORE_MAX_PAGES);
			return -E2BIG;
		}
		if ((st->nr + 1) * 4 > st->cap * 3) {
			err = grow(st);
			if (err)
				return err;
		}
		for (size_t i = slot_of(st, pid, key);; i = (i + 1) & (st->cap - 1)) {
			if (!st->tab[i].key) {
				e = &st->tab[i];
				break;
			}
		}
		*e = (struct mstore_ent){ .key = key, .pid = pid, .zero = 1, .off = UINT64_MAX };
		st->nr++;
	}
	if (!data) {
		e->zero = 1;
		st->zero_writes++;
		return 0;
	}
	if (e->off == UINT64_MAX) {
		e->off = st->end;
		st->end += MSTORE_PAGE;
	}
	e->zero = 0;
	st->full_writes++;
	return write_at(st, data, e->off, pid, addr);
}

int mstore_get(const struct mstore *st, pid_t pid, uint64_t addr, void *buf)
{
	const struct mstore_ent *e = find(st, pid, addr | 1);
	size_t done = 0;
	int err;

	if (!e)
		return -ENOENT;
	if (e->zero) {
		memset(buf, 0, MSTORE_PAGE);
		return 0;
	}
	err = pread_full(st->fd, buf, MSTORE_PAGE, e->off, &done);
	if (!err && done != MSTORE_PAGE)
		err = -EIO;
	if (err)
		pr_err("pid %d: page 0x%llx: cannot read it back from the page store at offset "
		       "%llu: %s",
		       pid, (unsigned long long)addr, (unsigned long long)e->off, strerror(-err));
	return err;
}
