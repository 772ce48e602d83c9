// SPDX-License-Identifier: MIT
/* The pre-copy model of `ferry dirtyrate --bandwidth` (migrate_predict.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "migrate_predict.h"

#define PAGE 4096.0

/* Pages written during @ms: the rate's, at most the working set. */
static uint64_t written_in(const struct mpredict_in *in, double ms)
{
	double n = in->dirty_pps * ms / 1000.0;

	if (n > (double)in->wss_pages)
		return in->wss_pages;
	return (uint64_t)(n + 0.5);
}

int migrate_predict(const struct mpredict_in *in, struct mpredict_out *out)
{
	uint64_t pages;
	unsigned k;

	memset(out, 0, sizeof(*out));
	if (in->bandwidth <= 0 || in->dirty_pps < 0 || in->max_rounds < 1 ||
	    in->max_rounds > MPREDICT_MAX_ROUNDS)
		return -EINVAL;
	pages = in->data_pages;
	for (k = 0; k < in->max_rounds; k++) {
		struct mpredict_round *r = &out->r[k];

		r->pages = pages;
		r->ms = (double)pages * PAGE / in->bandwidth * 1000.0;
		r->predicted_ms = r->ms + in->freeze_ms;
		out->total_pages += pages;
		out->total_ms += r->ms;
		out->rounds = k + 1;
		pages = written_in(in, r->ms);
		if (k >= 1 && r->predicted_ms <= in->downtime_ms) {
			out->converges = 1;
			break;
		}
	}
	out->final_pages = pages;
	out->downtime_ms = (double)pages * PAGE / in->bandwidth * 1000.0 + in->freeze_ms;
	out->total_pages += pages;
	out->total_ms += out->downtime_ms;
	return 0;
}

int migrate_data_pages(pid_t pid, uint64_t *pages)
{
	char path[64], line[256];
	unsigned long long kb;
	int err = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Anonymous: %llu kB", &kb) == 1) {
			*pages = kb / 4;
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}
