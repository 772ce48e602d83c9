// SPDX-License-Identifier: MIT
/* The destination's index of the latest copy of each page (migrate_copies.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate_copies.h"

#define PAGE 4096u

static size_t hash(pid_t pid, uint64_t addr, size_t cap)
{
	uint64_t h = (addr / PAGE) ^ ((uint64_t)(uint32_t)pid << 40);

	return (size_t)((h * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

int mcopies_add_file(struct mcopies *c, int fd, uint32_t *file)
{
	int *v = realloc(c->fds, (c->nr_fds + 1) * sizeof(*v));
	int d;

	if (!v)
		return -ENOMEM;
	c->fds = v;
	d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (d < 0)
		return -errno;
	c->fds[c->nr_fds] = d;
	*file = (uint32_t)c->nr_fds++;
	return 0;
}

static struct mcopy *slot(struct mcopy *tab, size_t cap, pid_t pid, uint64_t addr)
{
	size_t i = hash(pid, addr, cap);

	while (tab[i].pid && (tab[i].pid != pid || tab[i].addr != addr))
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

static int grow(struct mcopies *c)
{
	size_t cap = c->cap ? 2 * c->cap : 4096;
	struct mcopy *tab = calloc(cap, sizeof(*tab));

	if (!tab)
		return -ENOMEM;
	for (size_t i = 0; i < c->cap; i++)
		if (c->tab[i].pid)
			*slot(tab, cap, c->tab[i].pid, c->tab[i].addr) = c->tab[i];
	free(c->tab);
	c->tab = tab;
	c->cap = cap;
	return 0;
}

int mcopies_put(struct mcopies *c, pid_t pid, uint64_t addr, uint32_t file, uint64_t off)
{
	struct mcopy *s;

	if (2 * (c->used + 1) > c->cap && grow(c))
		return -ENOMEM;
	s = slot(c->tab, c->cap, pid, addr);
	if (!s->pid)
		c->used++;
	*s = (struct mcopy){ .addr = addr, .pid = pid, .file = file, .off = off };
	return 0;
}

int mcopies_read(const struct mcopies *c, pid_t pid, uint64_t addr, uint8_t *page)
{
	const struct mcopy *s;
	ssize_t n;

	if (!c->cap)
		return -ENOENT;
	s = slot(c->tab, c->cap, pid, addr);
	if (!s->pid)
		return -ENOENT;
	n = pread(c->fds[s->file], page, PAGE, (off_t)s->off);
	if (n < 0)
		return -errno;
	/* A zero page at the end of its file may be a hole not sized yet. */
	memset(page + n, 0, PAGE - (size_t)n);
	return 0;
}

void mcopies_free(struct mcopies *c)
{
	for (size_t i = 0; i < c->nr_fds; i++)
		close(c->fds[i]);
	free(c->fds);
	free(c->tab);
	memset(c, 0, sizeof(*c));
}
