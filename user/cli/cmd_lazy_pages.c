// SPDX-License-Identifier: MIT
/* `ferry lazy-pages --attach PID`: a new lazy-pages daemon for a lazy restore whose daemon died. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define LOG_PREFIX ""
#include "cli.h"
#include "images.h"
#include "lazy.h"
#include "log.h"
#include "shmem.h"

static int run(struct cli_opts *o)
{
	struct lazy_opts lo = { 0 };
	struct rimg *r = NULL;
	int err;

	if (!o->attach || !o->images_dir) {
		fprintf(stderr, "ferry lazy-pages: --attach PID and -D DIR are required (see "
				"--help)\n");
		return -1;
	}
	if (o->argc) {
		fprintf(stderr, "ferry lazy-pages: unexpected argument '%s' (see --help)\n",
			o->argv[0]);
		return -1;
	}
	err = rimg_load_flags(&r, o->images_dir, o->page_server ? RIMG_PAGES_OPTIONAL : 0);
	if (err)
		return err;
	lo.page_server = o->page_server;
	lo.secret_file = o->secret_file;
	lo.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
	lo.prefetch_delay_ms = o->prefetch_delay_ms;
	/* The shared memory the dead daemon served: the same choice restore made. */
	rshmem_plan_lazy(r);
	err = lazy_attach((pid_t)o->attach, r, &lo);
	rimg_free(r);
	if (err > 0) {
		o->exit_code = err;
		err = 0;
	}
	return err;
}

const struct cli_cmd cmd_lazy_pages = {
	.name = "lazy-pages",
	.run = run,
	.summary = "serve a lazy restore whose lazy-pages daemon died (--attach)",
	.usage = "Usage: ferry lazy-pages --attach PID -D DIR [--page-server HOST:PORT\n"
		 "                         [--secret-file F]] [--lazy-timeout S] [-v[N]]\n\n"
		 "When the lazy-pages daemon of 'ferry restore --lazy-pages' dies before every\n"
		 "page is in (SIGKILL, the OOM killer, a kill of restore's process group), its\n"
		 "holder ('ferry-lazyh') keeps the restored memory registered: a thread that\n"
		 "touches a missing page waits, it never reads zeros. This command takes over\n"
		 "from the holder of the restored tree of PID (a restored process, or one below\n"
		 "it): the journal of what the dead daemon saw (forks, mremap, MADV_DONTNEED,\n"
		 "munmap) rebuilds which pages are still missing, the waiting threads are woken,\n"
		 "and the pages come from DIR (the same dump) or the page server, until every\n"
		 "page is in. It runs in the foreground and exits 0 then, 1 if the page source\n"
		 "failed (the processes that missed pages are killed, named). Without an attach\n"
		 "within restore's --orphan-timeout the holder kills those processes.\n"
		 "Only root or the holder's user may attach.\n\n"
		 "Options:\n"
		 "  --attach PID              the restored process (or one below it)\n"
		 "  -D, --images-dir DIR      the dump it was restored from\n"
		 "  --page-server HOST:PORT   pages from 'ferry page-server' (as for restore)\n"
		 "  --secret-file F           the page server's shared secret\n"
		 "  --lazy-timeout S          a page request unanswered for S s fails the source\n"
		 "  -v[N], --log-file F       as for the other commands\n",
};
