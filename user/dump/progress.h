/* SPDX-License-Identifier: MIT */
/*
 * A progress line for long dumps, on stderr: bytes of memory copied out of
 * the expected total, the rate and the time left, redrawn in place (\r) at
 * most every 200 ms, and only once the copy has run for half a second (short
 * dumps print nothing). The caller decides whether to show it at all
 * (`--progress`, `--no-progress`, by default only when stderr is a terminal).
 *
 * Not thread-safe: the page writers of a dump run in one thread.
 */
#ifndef FERRY_PROGRESS_H
#define FERRY_PROGRESS_H

#include <stdint.h>

struct progress {
	int on;		  /* draw at all */
	int drawn;	  /* a line is on the screen: progress_end ends it */
	uint64_t total;	  /* bytes expected (may grow: never below done) */
	uint64_t done;	  /* bytes copied so far */
	uint64_t t0_us;	  /* when the copy began */
	uint64_t last_us; /* last redraw */
	const char *what; /* "dump", "pre-dump" */
};

/* progress_start - begin: @total bytes expected (an estimate is fine). */
void progress_start(struct progress *p, int on, const char *what, uint64_t total);
/* progress_add - @bytes more copied; redraws when it is time. NULL is accepted. */
void progress_add(struct progress *p, uint64_t bytes);
/* progress_end - the last line (if one was drawn), then a newline. NULL is accepted. */
void progress_end(struct progress *p);

#endif
