// SPDX-License-Identifier: MIT
/*
 * The progress line of long dumps (see progress.h).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "util.h"

#define SHOW_AFTER_US 500000
#define EVERY_US 200000

void progress_start(struct progress *p, int on, const char *what, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->on = on;
	p->what = what;
	p->total = total;
	p->t0_us = mono_us();
}

static void draw(struct progress *p, uint64_t now)
{
	double secs = (double)(now - p->t0_us) / 1e6;
	double rate = secs > 0 ? (double)p->done / secs : 0;
	double left = rate > 0 ? (double)(p->total - p->done) / rate : 0;
	char line[160];
	int n;

	n = snprintf(line, sizeof(line),
		     "\rferry %s: %.1f of %.1f MiB (%.0f%%), %.0f MiB/s, %.1f s left   ", p->what,
		     (double)p->done / 1048576.0, (double)p->total / 1048576.0,
		     p->total ? 100.0 * (double)p->done / (double)p->total : 100.0,
		     rate / 1048576.0, left);
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) == n)
		p->drawn = 1;
	p->last_us = now;
}

void progress_add(struct progress *p, uint64_t bytes)
{
	uint64_t now;

	if (!p || !p->on)
		return;
	p->done += bytes;
	if (p->done > p->total)
		p->total = p->done;
	now = mono_us();
	if (now - p->t0_us < SHOW_AFTER_US || now - p->last_us < EVERY_US)
		return;
	draw(p, now);
}

void progress_end(struct progress *p)
{
	if (!p || !p->on || !p->drawn)
		return;
	p->total = p->done;
	draw(p, mono_us());
	if (write(STDERR_FILENO, "\n", 1) != 1)
		p->drawn = 0;
	p->on = 0;
}
