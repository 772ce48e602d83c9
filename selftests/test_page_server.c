// SPDX-License-Identifier: MIT
/*
 * The page server end to end: a real workload is dumped, `ferry page-server`
 * serves the dump on a real socket, and the remote page source fetches every
 * dumped page (urgent and background, many requests in flight), compared
 * byte for byte with the local page source and with the workload's pattern;
 * PageErrors; a deep pipeline. The other parts of suite page_server:
 * test_page_server_secret.c (the shared secret, public addresses, IPv6),
 * test_page_server_faults.c (a server killed, stopped, silent or talking
 * garbage; the startup timeout), test_page_server_clients.c (clients that
 * send garbage or vanish; the wire-log capture decoded by openssl and unber),
 * test_page_server_local.c (the local source on a hand-made index).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "log.h"
#include "helpers.h"
#include "images.h"
#include "page_source_local.h"
#include "page_source_remote.h"
#include "pagemap_flags.h"
#include "pattern.h"

#include "page_server_helpers.h"

static bool is_hole(const struct pst_dump *d, uint64_t addr)
{
	return ((addr - d->base) / PAGE) % PATTERN_HOLE_EVERY == PATTERN_HOLE_EVERY - 1;
}

struct job {
	struct page_req req;
	uint8_t *buf;
};

/*
 * fetch_all - every dumped page of every process of @r from @src, in requests
 * of 1, 7, 64 and 256 pages (cut at run ends), each page twice: once urgent,
 * once background; at most @window requests in flight. Each answer is
 * compared with the local source's. Returns the pages fetched.
 */
static uint64_t fetch_all(struct page_source *src, struct page_source *local, const struct rimg *r,
			  size_t window)
{
	static const uint32_t sizes[] = { 1, 7, 64, 256 };
	struct job *jobs = calloc(window, sizeof(*jobs));
	size_t free_top = window, *free_slots = calloc(window, sizeof(size_t));
	uint8_t *want = malloc(PS_MAX_REQ_PAGES * PAGE);
	uint64_t pages = 0, submitted = 0, done = 0;
	unsigned int k = 0;

	for (size_t i = 0; i < window; i++)
		free_slots[i] = i;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t p = 0; p < r->nr_procs; p++) {
			const struct rimg_pagemap *pm = r->procs[p].pm;

			for (size_t ri = 0; pm && ri < pm->nr_runs; ri++) {
				const struct rimg_page_run *run = &pm->runs[ri];
				uint64_t off = 0;

				if (!(run->flags & (PE_PRESENT | PE_PARENT)))
					continue;
				while (off < run->nr_pages) {
					uint32_t nr = sizes[k % 4];
					struct job *j;
					size_t slot;

					if (nr > run->nr_pages - off)
						nr = (uint32_t)(run->nr_pages - off);
					/* A free slot: reap until there is one. */
					while (!free_top) {
						int err = 0;
						struct page_req *q = pst_wait_one(src, 2000, &err);
						struct job *dj;
						uint64_t miss;

						cr_assert_not_null(q, "source died: %s",
								   strerror(-err));
						dj = (struct job *)q;
						cr_assert_eq(q->err, 0, "pid %d 0x%llx: %s", q->pid,
							     (unsigned long long)q->addr,
							     strerror(-q->err));
						cr_assert_eq(page_source_local_read(local, q->pid,
										    q->addr, q->nr,
										    want, &miss),
							     0);
						cr_assert_eq(
							memcmp(want, dj->buf, q->nr * PAGE), 0,
							"pid %d 0x%llx (%u pages) differs from the dump",
							q->pid, (unsigned long long)q->addr, q->nr);
						pages += q->nr;
						done++;
						free(dj->buf);
						free_slots[free_top++] = (size_t)(dj - jobs);
					}
					slot = free_slots[--free_top];
					j = &jobs[slot];
					j->buf = malloc(nr * PAGE);
					memset(j->buf, 0xa5, nr * PAGE);
					j->req = (struct page_req){
						.pid = r->procs[p].pid,
						.addr = run->vaddr + off * PAGE,
						.nr = nr,
						.urgent = (k + (unsigned int)pass) % 2,
						.buf = j->buf,
						.cookie = slot,
					};
					cr_assert_eq(page_source_submit(src, &j->req), 0);
					submitted++;
					off += nr;
					k++;
				}
			}
		}
	}
	while (done < submitted) {
		int err = 0;
		struct page_req *q = pst_wait_one(src, 2000, &err);
		struct job *dj;
		uint64_t miss;

		cr_assert_not_null(q, "source died: %s", strerror(-err));
		dj = (struct job *)q;
		cr_assert_eq(q->err, 0);
		cr_assert_eq(page_source_local_read(local, q->pid, q->addr, q->nr, want, &miss), 0);
		cr_assert_eq(memcmp(want, dj->buf, q->nr * PAGE), 0, "pid %d 0x%llx differs",
			     q->pid, (unsigned long long)q->addr);
		pages += q->nr;
		done++;
		free(dj->buf);
	}
	free(want);
	free(jobs);
	free(free_slots);
	return pages;
}

static uint64_t dumped_pages(const struct rimg *r)
{
	uint64_t n = 0;

	for (size_t p = 0; p < r->nr_procs; p++)
		for (size_t i = 0; r->procs[p].pm && i < r->procs[p].pm->nr_runs; i++)
			if (r->procs[p].pm->runs[i].flags & (PE_PRESENT | PE_PARENT))
				n += r->procs[p].pm->runs[i].nr_pages;
	return n;
}

static long vm_hwm_kib(pid_t pid)
{
	return t_proc_field(pid, "VmHWM");
}

TestSuite(page_server, .timeout = 60);

Test(page_server, fetch_everything_urgent_and_background)
{
	const char *args[] = { "-v3", NULL };
	struct page_source *remote, *local;
	struct rimg *r = NULL;
	struct pst_dump d;
	struct pst_srv s;
	uint64_t pages, buf[PAGE / 8];
	long hwm;
	int err;

	pst_dump_memhog(&d, "32");
	pst_srv_start(&s, &d, args);
	err = rimg_load(&r, d.img);
	cr_assert_eq(err, 0);
	cr_assert_eq(page_source_local_open(&local, r), 0);
	remote = pst_remote_open(&s, NULL, 5000);
	cr_assert(!strncmp(remote->name, "page server 127.0.0.1:", 22), "%s", remote->name);

	pages = fetch_all(remote, local, r, 256);
	cr_assert_eq(pages, 2 * dumped_pages(r));
	cr_assert_gt(pages, 2 * (d.size / PAGE) * 63 / 64, "memhog's mapping is in the dump");

	/* And what the dump holds is what memhog wrote (an oracle that is not the source). */
	for (uint64_t a = d.base; a < d.base + d.size; a += 61 * PAGE) {
		struct page_req q = { .pid = d.pid, .addr = a, .nr = 1, .buf = buf };
		struct page_req *got;

		cr_assert_eq(page_source_submit(remote, &q), 0);
		got = pst_wait_one(remote, 2000, &err);
		cr_assert_eq(got, &q);
		if (is_hole(&d, a)) {
			cr_assert_eq(q.err, -ENOENT, "a never touched page is not in the dump");
			continue;
		}
		cr_assert_eq(q.err, 0);
		cr_assert_eq(buf[0], pattern_word(a, d.seed), "page 0x%llx", (unsigned long long)a);
		cr_assert_eq(buf[PAGE / 8 - 1], pattern_word(a + PAGE - 8, d.seed));
	}

	/*
	 * 64 MiB went through; the server's memory did not follow the image's
	 * size (it peaks near 7 MiB whether the dump has 1 or 96 MiB).
	 */
	hwm = vm_hwm_kib(s.pid);
	cr_assert_gt(hwm, 0);
#ifndef __SANITIZE_ADDRESS__ /* ASan's shadow memory and quarantine say nothing about ferry */
	cr_assert_lt(hwm, 16 * 1024, "page-server peak RSS %ld KiB for a 32 MiB dump", hwm);
#endif

	page_source_destroy(remote);
	cr_assert_eq(pst_srv_wait(&s, 5000), 0, "the server exits 0 after Bye on both connections");
	pst_srv_logged(&s, "session ended");
	page_source_destroy(local);
	rimg_free(r);
	pst_drop_dump(&d);
}

Test(page_server, page_errors_keep_the_source_alive)
{
	struct page_source *remote;
	uint64_t buf[8 * PAGE / 8];
	struct page_req *got;
	struct pst_dump d;
	struct pst_srv s;
	char hp[64];
	int err = 0;

	pst_dump_memhog(&d, "1");
	pst_srv_start(&s, &d, NULL);
	/* By name: getaddrinfo, each address in turn (::1 may come first and be refused). */
	snprintf(hp, sizeof(hp), "localhost:%d", s.port);
	err = page_source_remote_open(&remote, hp, NULL, 5000);
	cr_assert_eq(err, 0, "%s: %s", hp, strerror(-err));
	cr_assert(!strncmp(remote->name, "page server localhost:", 22), "%s", remote->name);
	struct {
		pid_t pid;
		uint64_t addr;
		uint32_t nr;
		int want;
	} cases[] = {
		{ d.pid, d.base + 63 * PAGE, 1, -ENOENT },  /* memhog's hole */
		{ d.pid, d.base + 60 * PAGE, 8, -ENOENT },  /* a range across it */
		{ d.pid == 1 ? 2 : 1, d.base, 1, -ENOENT }, /* a pid not in the dump */
		{ d.pid, 0x1000, 1, -ENOENT },		    /* an address never mapped */
		{ d.pid, d.base + 64 * PAGE, 8, 0 },
		{ d.pid, d.base + 5, 1, -EINVAL }, /* refused before it is sent */
	};
	struct page_req q[sizeof(cases) / sizeof(cases[0])];

	/* All in flight at once; each completes on its own. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		q[i] = (struct page_req){ .pid = cases[i].pid,
					  .addr = cases[i].addr,
					  .nr = cases[i].nr,
					  .urgent = i % 2,
					  .buf = buf,
					  .cookie = i };
		cr_assert_eq(page_source_submit(remote, &q[i]), 0);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = pst_wait_one(remote, 2000, &err);
		cr_assert_not_null(got, "source died: %s", strerror(-err));
		cr_assert_eq(got->err, cases[got->cookie].want, "case %llu: %d",
			     (unsigned long long)got->cookie, got->err);
		if (!got->err)
			cr_assert_eq(buf[0], pattern_word(d.base + 64 * PAGE, d.seed));
	}
	page_source_destroy(remote);
	cr_assert_eq(pst_srv_wait(&s, 5000), 0);
	pst_srv_logged(&s, "is not in the dump");
	pst_drop_dump(&d);
}

/*
 * More requests in flight than the server queues per connection (4096) and
 * than its input buffer holds: it stops reading, serves, reads on; and fault
 * requests submitted behind a wall of background ones still complete.
 */
Test(page_server, deep_pipeline)
{
	const uint32_t n = 10000;
	struct page_source *remote;
	struct page_req *q = calloc(n, sizeof(*q)), *got;
	uint64_t *bufs = malloc((size_t)n * PAGE), done = 0, first_urgent = 0, urgent_at = 0;
	struct pst_dump d;
	struct pst_srv s;
	int err = 0;

	cr_assert(q && bufs);
	pst_dump_memhog(&d, "1");
	pst_srv_start(&s, &d, NULL);
	remote = pst_remote_open(&s, NULL, 5000);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t page = i % 63; /* the first run: 63 pages before memhog's first hole */

		q[i] = (struct page_req){ .pid = d.pid,
					  .addr = d.base + page * PAGE,
					  .nr = 1,
					  .urgent = i >= n - 100, /* the last 100 */
					  .buf = bufs + (size_t)i * (PAGE / 8),
					  .cookie = i };
		cr_assert_eq(page_source_submit(remote, &q[i]), 0);
	}
	while (done < n) {
		got = pst_wait_one(remote, 2000, &err);
		cr_assert_not_null(got, "source died after %llu: %s", (unsigned long long)done,
				   strerror(-err));
		cr_assert_eq(got->err, 0);
		cr_assert_eq(*(uint64_t *)got->buf, pattern_word(got->addr, d.seed), "request %llu",
			     (unsigned long long)got->cookie);
		if (got->urgent && !first_urgent++)
			urgent_at = done;
		done++;
	}
	cr_assert_eq(first_urgent, 100);
	/* Fault requests overtake the background backlog the server has not served yet. */
	cr_assert_lt(urgent_at, n - 100, "the first urgent request completed %llu-th",
		     (unsigned long long)urgent_at);
	page_source_destroy(remote);
	cr_assert_eq(pst_srv_wait(&s, 5000), 0);
	free(q);
	free(bufs);
	pst_drop_dump(&d);
}
