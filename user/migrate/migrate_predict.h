/* SPDX-License-Identifier: MIT */
/*
 * What a pre-copy migration of a process would do, from its measured dirty
 * rate (`ferry dirtyrate --bandwidth`): the rounds `ferry migrate` would run
 * at a given bandwidth, whether they converge under the downtime limit, and
 * the final dirty set's downtime. The model is ferry migrate's own rule
 * (docs/migrate.md): round 1 sends every page with data; round k sends the
 * pages written during round k-1, which took its pages' time at the
 * bandwidth; the pages written during a time T are min(WSS, rate * T) (a
 * process rewriting a working set cannot dirty more than it); from round 2 on
 * the migration converges when the round's pages at the bandwidth plus the
 * scan's freeze are under the limit; else it stops after max_rounds.
 * Left out (so the prediction is optimistic): the time a round spends
 * dumping besides sending, and the fixed cost of the final dump and the
 * restore (100-300 ms here, see docs/migrate.md).
 */
#ifndef FERRY_MIGRATE_PREDICT_H
#define FERRY_MIGRATE_PREDICT_H

#include <stdint.h>
#include <sys/types.h>

#define MPREDICT_MAX_ROUNDS 64

struct mpredict_in {
	double dirty_pps;    /* pages written per second (distinct per interval) */
	uint64_t wss_pages;  /* distinct pages written during the measure */
	uint64_t data_pages; /* pages with data: what round 1 sends */
	double bandwidth;    /* bytes per second, > 0 */
	double downtime_ms;  /* the limit */
	unsigned max_rounds; /* 1..MPREDICT_MAX_ROUNDS */
	double freeze_ms;    /* the scan's freeze, added to each prediction */
};

struct mpredict_round {
	uint64_t pages;
	double ms;	     /* its pages at the bandwidth */
	double predicted_ms; /* the downtime predicted after it */
};

struct mpredict_out {
	int converges;	      /* under the limit within max_rounds */
	unsigned rounds;      /* pre-copy rounds */
	uint64_t final_pages; /* the final section's dirty set */
	double downtime_ms;   /* its pages at the bandwidth plus the freeze */
	uint64_t total_pages; /* rounds and final section */
	double total_ms;
	struct mpredict_round r[MPREDICT_MAX_ROUNDS];
};

/* migrate_predict - run the model. Returns 0, or -EINVAL for a bad input. */
int migrate_predict(const struct mpredict_in *in, struct mpredict_out *out);

/*
 * migrate_data_pages - the pages with data of process @pid that a
 * migration copies: its anonymous pages (/proc/PID/smaps_rollup
 * "Anonymous:"). Returns 0 or -errno.
 */
int migrate_data_pages(pid_t pid, uint64_t *pages);

#endif
