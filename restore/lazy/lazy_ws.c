// SPDX-License-Identifier: MIT
/*
 * Reading and writing the working-set file of a lazy restore (lazy_ws.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-pages: "
#include "lazy_ws.h"
#include "log.h"
#include "util.h"

#define WS_MAGIC "ferry-ws"
#define WS_VERSION 1u
#define WS_HEAD 16u
#define WS_ENTRY 16u

int lazy_ws_add(struct lazy_ws *ws, pid_t pid, uint64_t addr, uint32_t pages)
{
	if (ws->n == ws->cap) {
		size_t cap = ws->cap ? ws->cap * 2 : 256;
		struct lazy_ws_entry *v;

		if (ws->n >= LAZY_WS_MAX)
			return -E2BIG;
		v = realloc(ws->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ws->v = v;
		ws->cap = cap;
	}
	ws->v[ws->n++] =
		(struct lazy_ws_entry){ .pid = (uint32_t)pid, .pages = pages, .addr = addr };
	return 0;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

int lazy_ws_parse(struct lazy_ws *ws, const void *buf, size_t len, const char *name)
{
	const uint8_t *p = buf;
	uint32_t ver, n;
	int err = 0;

	memset(ws, 0, sizeof(*ws));
	if (len < WS_HEAD || memcmp(p, WS_MAGIC, 8)) {
		pr_err("%s: offset 0: not a ferry working-set file (no \"%s\" magic)", name,
		       WS_MAGIC);
		return -EINVAL;
	}
	ver = get32(p + 8);
	n = get32(p + 12);
	if (ver != WS_VERSION) {
		pr_err("%s: offset 8: version %u, ferry reads version %u", name, ver, WS_VERSION);
		return -EINVAL;
	}
	if (n > LAZY_WS_MAX || (len - WS_HEAD) / WS_ENTRY != n || (len - WS_HEAD) % WS_ENTRY) {
		pr_err("%s: offset 12: %u entries announced, the file holds %zu bytes of entries "
		       "(%u each, at most %u entries)",
		       name, n, len - WS_HEAD, WS_ENTRY, LAZY_WS_MAX);
		return -EINVAL;
	}
	for (uint32_t i = 0; !err && i < n; i++) {
		const uint8_t *e = p + WS_HEAD + (size_t)i * WS_ENTRY;
		uint32_t pid = get32(e), pages = get32(e + 4);
		uint64_t addr = get64(e + 8);

		if (!pid || pid > (1u << 22) || !pages || pages > 256 || addr % 4096 ||
		    addr > UINT64_MAX - (uint64_t)pages * 4096) {
			pr_err("%s: offset %zu: bad entry %u (pid %u, %u pages at %#llx)", name,
			       (size_t)(e - p), i, pid, pages, (unsigned long long)addr);
			err = -EINVAL;
			break;
		}
		err = lazy_ws_add(ws, (pid_t)pid, addr, pages);
	}
	if (err)
		lazy_ws_free(ws);
	return err;
}

int lazy_ws_read(struct lazy_ws *ws, const char *path)
{
	struct stat st;
	void *buf = NULL;
	int fd, err = 0;

	memset(ws, 0, sizeof(*ws));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		pr_errno(err, "cannot stat %s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > WS_HEAD + (uint64_t)LAZY_WS_MAX * WS_ENTRY) {
		pr_err("%s: not a regular file of a sane size (%lld bytes)", path,
		       (long long)st.st_size);
		err = -EINVAL;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		err = errno ? -errno : -EIO;
		pr_errno(err, "cannot read %s", path);
		goto out;
	}
	err = lazy_ws_parse(ws, buf, (size_t)st.st_size, path);
out:
	free(buf);
	close(fd);
	return err;
}

int lazy_ws_write(const struct lazy_ws *ws, const char *path)
{
	size_t len = WS_HEAD + ws->n * WS_ENTRY;
	uint8_t *buf = calloc(1, len);
	int err;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, WS_MAGIC, 8);
	put32(buf + 8, WS_VERSION);
	put32(buf + 12, (uint32_t)ws->n);
	for (size_t i = 0; i < ws->n; i++) {
		uint8_t *e = buf + WS_HEAD + i * WS_ENTRY;

		put32(e, ws->v[i].pid);
		put32(e + 4, ws->v[i].pages);
		put64(e + 8, ws->v[i].addr);
	}
	err = write_file_atomic(path, buf, len);
	if (err)
		pr_errno(err, "cannot write the working set to %s", path);
	free(buf);
	return err;
}

void lazy_ws_free(struct lazy_ws *ws)
{
	free(ws->v);
	memset(ws, 0, sizeof(*ws));
}
