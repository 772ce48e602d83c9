// SPDX-License-Identifier: MIT
/*
 * `ferry dirtyrate --bandwidth` predicts a pre-copy migration, checked
 * against `ferry migrate` of the same workload at that bandwidth
 * (--max-bandwidth) into another network, pid and mount namespace: the same
 * verdict (converges or not within --max-rounds), the rounds within 2 of each
 * other, and for the one that converges the final section's pages within a
 * factor of 8 (the model leaves out the time a round spends dumping, so it
 * is optimistic). Both sides are logged. And the model itself, on numbers.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "migrate_helpers.h"
#include "migrate_predict.h"

struct predicted {
	int converges;
	unsigned rounds;
	unsigned long long final_pages;
	double downtime_ms;
};

struct actual {
	unsigned rounds;
	double last_predicted_ms;
	unsigned long long final_pages;
	double downtime_ms;
};

static void predict(pid_t pid, const char *args, struct predicted *p)
{
	char *out = NULL, *err = NULL, *j, conv[8] = "";
	int rc;

	rc = t_run(&out, &err, "%s dirtyrate -t %d --interval 100 --duration 2 --json %s",
		   t_ferry_bin(), pid, args);
	cr_assert_eq(rc, 0, "ferry dirtyrate failed (%d): %s", rc, err ? err : "");
	j = out ? strstr(out, "{\"prediction\":") : NULL;
	cr_assert(j, "no prediction in: %s", out ? out : "");
	j = strstr(j, "\"converges\":");
	cr_assert(j && sscanf(j,
			      "\"converges\":%7[a-z],\"rounds\":%u,\"final_pages\":%llu,"
			      "\"downtime_ms\":%lf",
			      conv, &p->rounds, &p->final_pages, &p->downtime_ms) == 4,
		  "prediction: %s", out);
	p->converges = !strcmp(conv, "true");
	cr_log_info("predicted: %s", strstr(out, "{\"prediction\":"));
	free(out);
	free(err);
}

static void migrate(pid_t pid, const char *dir, const char *args, struct actual *a)
{
	char secret[600], *out = NULL, *err = NULL, *l, *log;
	struct t_netns ns;
	struct dest d = { 0 };
	int r = t_netns_up(&ns), rc, status;

	if (r == 1)
		cr_skip_test("cannot make a network namespace (ip netns add)");
	cr_assert_eq(r, 0, "network namespace setup failed");
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	write_secret(secret, "the prediction's secret, 32 byte");
	cr_assert_eq(start_dest(&d, ns.name, ns.there, dir, NULL, secret, 0), 0,
		     "the destination did not start");
	rc = t_run(&out, &err, "%s migrate -t %d --to %s --secret-file %s --json %s", t_ferry_bin(),
		   pid, d.host_port, secret, args);
	log = t_read_file(d.log, NULL);
	cr_assert_eq(rc, 0, "ferry migrate failed (%d):\n%s\n%s\ndestination:\n%s", rc,
		     out ? out : "", err ? err : "", log ? log : "");
	free(log);
	memset(a, 0, sizeof(*a));
	for (l = out; (l = strstr(l, "{\"event\":\"round\"")); l++) {
		const char *p = strstr(l, "\"predicted_downtime_ms\":");

		cr_assert(p &&
			  sscanf(p, "\"predicted_downtime_ms\":%lf", &a->last_predicted_ms) == 1);
		a->rounds++;
	}
	l = strstr(out, "{\"event\":\"done\"");
	cr_assert(l, "no done event: %s", out);
	cr_assert_eq(sscanf(strstr(l, "\"downtime_ms\":"), "\"downtime_ms\":%lf", &a->downtime_ms),
		     1);
	cr_assert_eq(sscanf(strstr(l, "\"final_pages_full\":"), "\"final_pages_full\":%llu",
			    &a->final_pages),
		     1);
	cr_log_info("migrated: %u rounds, the last predicting %.1f ms, final %llu pages, "
		    "downtime %.1f ms (with the fixed costs)",
		    a->rounds, a->last_predicted_ms, a->final_pages, a->downtime_ms);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	kill_dest(&d);
	t_netns_down(&ns);
	free(out);
	free(err);
}

/* A scribbler dirtying ~1000 of its 2048 pages a second, at 8 MiB/s: it converges. */
Test(dirtyrate_predict, converging_writer_as_migrated)
{
	const char *argv[] = { "scribbler", "2048", "1", NULL };
	const char *knobs = "--downtime-limit 300 --max-rounds 8";
	char *dir = t_tmpdir(), wout[512], args[256];
	struct predicted p;
	struct actual a;
	pid_t pid;

	snprintf(wout, sizeof(wout), "%s/w.out", dir);
	pid = t_spawn_ready(wout, argv, "ready", 10000, NULL);
	usleep(2100 * 1000); /* every page written once */
	snprintf(args, sizeof(args), "--bandwidth 8M %s", knobs);
	predict(pid, args, &p);
	snprintf(args, sizeof(args), "--max-bandwidth 8M %s", knobs);
	migrate(pid, dir, args, &a);
	cr_log_info("rounds predicted %u, run %u; final pages predicted %llu, sent %llu (x%.2f)",
		    p.rounds, a.rounds, p.final_pages, a.final_pages,
		    p.final_pages ? (double)a.final_pages / (double)p.final_pages : 0.0);
	/* Designed to converge; on a loaded machine the writer may slow down: agreement is the
	 * test. */
	cr_expect_eq(p.converges, a.rounds < 8 || a.last_predicted_ms <= 300,
		     "predicted %s, the migration %s", p.converges ? "converges" : "does not",
		     a.rounds < 8 || a.last_predicted_ms <= 300 ? "converged" : "did not");
	cr_expect(abs((int)p.rounds - (int)a.rounds) <= 2, "rounds: predicted %u, run %u", p.rounds,
		  a.rounds);
	cr_expect(a.final_pages <= 8 * (p.final_pages + 16) &&
			  p.final_pages <= 8 * (a.final_pages + 16),
		  "final pages: predicted %llu, sent %llu", p.final_pages, a.final_pages);
	t_rmrf(dir);
	free(dir);
}

/* 4096 pages rewritten 20000 times a second, at 32 MiB/s: it never converges. */
Test(dirtyrate_predict, fast_writer_does_not_converge_as_migrated)
{
	const char *argv[] = { "scribbler", "4096", "20", NULL };
	const char *knobs = "--downtime-limit 50 --max-rounds 3";
	char *dir = t_tmpdir(), wout[512], args[256];
	struct predicted p;
	struct actual a;
	pid_t pid;

	snprintf(wout, sizeof(wout), "%s/w.out", dir);
	pid = t_spawn_ready(wout, argv, "ready", 10000, NULL);
	usleep(500 * 1000);
	snprintf(args, sizeof(args), "--bandwidth 32M %s", knobs);
	predict(pid, args, &p);
	snprintf(args, sizeof(args), "--max-bandwidth 32M %s", knobs);
	migrate(pid, dir, args, &a);
	/* Designed not to converge; agreement with the real run is the test. */
	cr_expect_eq(p.converges, a.rounds < 3 || a.last_predicted_ms <= 50,
		     "predicted %s in %u rounds, the migration ran %u, the last predicting %.1f ms",
		     p.converges ? "to converge" : "not to converge", p.rounds, a.rounds,
		     a.last_predicted_ms);
	cr_expect(abs((int)p.rounds - (int)a.rounds) <= 2, "rounds: predicted %u, run %u", p.rounds,
		  a.rounds);
	cr_log_info("final pages predicted %llu, sent %llu (x%.2f)", p.final_pages, a.final_pages,
		    p.final_pages ? (double)a.final_pages / (double)p.final_pages : 0.0);
	cr_expect(a.final_pages <= 8 * (p.final_pages + 16) &&
			  p.final_pages <= 8 * (a.final_pages + 16),
		  "final pages: predicted %llu, sent %llu", p.final_pages, a.final_pages);
	t_rmrf(dir);
	free(dir);
}

/* The model on numbers: round 1 all data, then min(WSS, rate x time). */
Test(dirtyrate_predict, model)
{
	struct mpredict_in in = { .dirty_pps = 1000,
				  .wss_pages = 2048,
				  .data_pages = 4096,
				  .bandwidth = 4096.0 * 4096,
				  .downtime_ms = 300,
				  .max_rounds = 8,
				  .freeze_ms = 0 };
	struct mpredict_out o;

	/* 4096 pages at 4096 pages/s: 1 s; 1000 written; 244 ms; 244 written: 60 ms. */
	cr_assert_eq(migrate_predict(&in, &o), 0);
	cr_expect(o.converges);
	cr_expect_eq(o.rounds, 2);
	cr_expect_eq(o.r[0].pages, 4096);
	cr_expect_eq(o.r[1].pages, 1000);
	cr_expect_eq(o.final_pages, 244);
	cr_expect(o.downtime_ms > 59 && o.downtime_ms < 60, "%f", o.downtime_ms);
	/* Writing faster than the link, capped by the working set: never. */
	in.dirty_pps = 100000;
	cr_assert_eq(migrate_predict(&in, &o), 0);
	cr_expect(!o.converges);
	cr_expect_eq(o.rounds, 8);
	cr_expect_eq(o.final_pages, 2048);
	in.max_rounds = 0;
	cr_expect_eq(migrate_predict(&in, &o), -EINVAL);
}
