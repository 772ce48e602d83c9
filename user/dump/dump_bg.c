// SPDX-License-Identifier: MIT
/*
 * The memory of `dump --leave-running`, copied after the release
 * (dump_bg_copy, see dump_priv.h and bgsnap.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "dump: "
#include "bgsnap.h"
#include "dump_mm.h"
#include "dump_priv.h"
#include "log.h"
#include "pstree.h"
#include "util.h"

/* A failure (not a kill) at a named point, for tests: FERRY_FAIL=name. */
static int fail_point(const char *name)
{
	const char *f = getenv("FERRY_FAIL");

	if (f && !strcmp(f, name)) {
		pr_err("fail point '%s': failing with EIO", name);
		return -EIO;
	}
	return 0;
}

static void add_stats(struct dump_result *res, const struct page_writer_stats *st)
{
	res->memwrite_us += st->write_ns / 1000;
	res->pages_written += st->pages_written;
	res->pages_parent += st->pages_parent;
}

int dump_bg_copy(struct pstree *t, int sfd, const struct dump_mm_plan *plans,
		 const struct page_writer_opts *pw, struct dump_result *res, uint64_t t_frozen)
{
	struct bgsnap_proc **bp = calloc(t->nr ? t->nr : 1, sizeof(*bp));
	struct bgsnap *b = NULL;
	uint64_t t0 = mono_us(), t_rel;
	int err, ret;

	err = bp ? bgsnap_create(&b, t->nr) : -ENOMEM;
	for (size_t i = 0; i < t->nr && !err; i++) {
		struct page_writer_stats st = { 0 };

		if (t->procs[i].zombie)
			continue;
		err = bgsnap_add_proc(b, t->procs[i].pid, &plans[i], &bp[i]);
		if (err != -EOPNOTSUPP)
			continue;
		/* No background copy for this one: its pages now, the tree still frozen. */
		res->bg_frozen_procs++;
		err = dump_mm_write_plan(t->procs[i].pid, &plans[i], (uint32_t)(i + 1), sfd, pw,
					 &st);
		add_stats(res, &st);
	}
	if (!err)
		err = bgsnap_start(b);
	if (err)
		goto out; /* still frozen: the caller releases the tree */
	pr_debug("the tree was frozen %llu us before its memory was write-protected, which took "
		 "%llu us",
		 (unsigned long long)(t0 - t_frozen), (unsigned long long)(mono_us() - t0));
	pstree_release(t);
	t_rel = mono_us();
	res->frozen_us = t_rel - t_frozen;
	res->memdump_us += t_rel - t0;
	pr_info("released the tree after %llu us; copying the memory of %llu process(es) while "
		"it runs (background snapshot)",
		(unsigned long long)res->frozen_us,
		(unsigned long long)(t->nr - res->bg_frozen_procs));
	fault_point("bg-released");
	err = fail_point("bg-copy");
	for (size_t i = 0; i < t->nr && !err; i++) {
		/* A process sharing pages copy-on-write is read without pinning (dump_pw_for). */
		struct page_writer_opts o = dump_pw_for(pw, t->procs[i].pid);
		struct page_writer_hook h;
		struct page_writer_stats st = { 0 };

		if (!bp[i])
			continue;
		bgsnap_hook(bp[i], &h);
		o.hook = &h;
		err = dump_mm_write_plan(t->procs[i].pid, &plans[i], (uint32_t)(i + 1), sfd, &o,
					 &st);
		add_stats(res, &st);
		fault_point("bg-copy");
	}
	res->bg_copy_us = mono_us() - t_rel;
	res->memdump_us += res->bg_copy_us;
out:
	ret = bgsnap_destroy(b, &res->bg);
	if (res->bg.spoiled)
		err = -EAGAIN; /* whatever failed, it was the memory map changing under the copy */
	else if (!err && ret) {
		pr_errno(ret, "the background copy failed");
		err = ret;
	}
	free(bp);
	res->copy_path = "background";
	return err;
}
