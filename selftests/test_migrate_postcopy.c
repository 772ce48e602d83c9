// SPDX-License-Identifier: MIT
/*
 * `ferry migrate --postcopy` end to end, the destination in its own network,
 * pid and mount namespaces: a memhog migrated with `--postcopy always`
 * resumes at once and verifies its memory, pulled from the source's page
 * server; the source ferry exits only once the destination said every page
 * is in. The source ferry killed after the switch: the destination's copy is
 * killed by the lazy-pages daemon with a message naming the lost page
 * server, never left running on zeros. `--postcopy auto` switches for a
 * scribbler that does not converge. The two new PDUs on the wire.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "migrate_helpers.h"
#include "migrate_wire.h"

#define VERDICT_MS 20000

struct pw {
	char *dir;
	char out[512], img[600], secret[600];
	pid_t pid;
	struct t_netns ns;
	struct dest d;
};

/* The namespace, the workload (@argv), the secret, the destination (more options @args). */
static void setup(struct pw *w, const char *const argv[], const char *args)
{
	char *line;
	int r = t_netns_up(&w->ns);

	if (r == 1)
		cr_skip_test("cannot make a network namespace (ip netns add)");
	cr_assert_eq(r, 0, "network namespace setup failed");
	w->dir = t_tmpdir();
	snprintf(w->out, sizeof(w->out), "%s/w.out", w->dir);
	w->pid = t_spawn(w->out, argv);
	cr_assert_gt(w->pid, 0);
	line = t_wait_line(w->out, "ready", 10000);
	cr_assert(line, "%s did not start", argv[0]);
	free(line);
	snprintf(w->img, sizeof(w->img), "%s/dest-img", w->dir);
	snprintf(w->secret, sizeof(w->secret), "%s/secret", w->dir);
	write_secret(w->secret, "the post-copy secret, 32 bytes..");
	cr_assert_eq(
		start_dest_args(&w->d, w->ns.name, w->ns.there, w->dir, w->img, w->secret, args), 0,
		"the destination did not start");
}

static void teardown(struct pw *w)
{
	kill_dest(&w->d);
	t_netns_down(&w->ns);
	t_rmrf(w->dir);
	free(w->dir);
}

/* The source tree was killed by ferry once the destination said it runs. */
static void expect_source_killed(struct pw *w)
{
	int status = 0;

	cr_assert_eq(waitpid(w->pid, &status, 0), w->pid);
	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the source ended 0x%x",
		  status);
}

/*
 * --postcopy always: one pre-copy round, then the switch; ferry migrate
 * returns only after PagesIn, when the destination's lazy-pages daemon has
 * already logged its summary; the copy's memory is the memhog's pattern.
 */
Test(migrate_postcopy, always_memhog)
{
	const char *argv[] = { "memhog", "64", "11", NULL };
	struct pw w = { 0 };
	char *out = NULL, *err = NULL, *log;
	pid_t copy;
	int rc;

	setup(&w, argv, "");
	rc = t_run(&out, &err, "%s migrate -t %d --to %s --secret-file %s --postcopy always -v3",
		   t_ferry_bin(), w.pid, w.d.host_port, w.secret);
	log = t_read_file(w.d.log, NULL);
	cr_assert_eq(rc, 0, "ferry migrate failed (%d):\n%s\n%s\ndestination:\n%s", rc,
		     out ? out : "", err ? err : "", log ? log : "");
	cr_log_info("migrate: %s", out);
	cr_expect(out && strstr(out, "round 1:"), "no round 1: %s", out);
	cr_expect(out && !strstr(out, "round 2:"), "post-copy always ran a round 2: %s", out);
	cr_expect(out && strstr(out, "switched to post-copy"), "no switch: %s", out);
	cr_expect(out && strstr(out, "every page is in"), "no PagesIn: %s", out);
	/* The source ferry returned after the destination's daemon was done. */
	cr_expect(log && strstr(log, "lazy-pages: done:"),
		  "ferry migrate returned before the lazy-pages daemon was done:\n%s", log);
	cr_expect(log && strstr(log, "post-copy: the pages come from"),
		  "the destination did not use the source's page server:\n%s", log);
	free(log);
	expect_source_killed(&w);
	copy = host_pid_of(w.pid);
	cr_assert_gt(copy, 0, "no process is pid %d in a child namespace", w.pid);
	t_expect_verdict(w.out, copy, SIGUSR1, "memhog: verify ok", "verify BAD", VERDICT_MS);
	free(out);
	free(err);
	teardown(&w);
}

/*
 * The source ferry SIGKILLed after the switch, the background filling held
 * back: the copy's first touch of a missing page fails, and the daemon kills
 * it, naming the page server it lost; the copy never reports its memory.
 */
Test(migrate_postcopy, source_killed_kills_copy)
{
	const char *argv[] = { "memhog", "64", "12", NULL };
	char mout[600], *line, *log = NULL, *wout;
	struct pw w = { 0 };
	pid_t mig, copy;
	int gone = 0;

	setup(&w, argv, "--prefetch-delay 60000");
	snprintf(mout, sizeof(mout), "%s/migrate.out", w.dir);
	{
		char pid[16];
		const char *margv[] = {
			"ferry",	 "migrate", "-t",	  pid,	    "--to", w.d.host_port,
			"--secret-file", w.secret,  "--postcopy", "always", NULL
		};

		snprintf(pid, sizeof(pid), "%d", w.pid);
		mig = fork();
		if (mig == 0) {
			int fd = open(mout, O_WRONLY | O_CREAT | O_TRUNC, 0600);

			dup2(fd, 1);
			dup2(fd, 2);
			syscall(SYS_close_range, 3, ~0u, 0);
			execv(t_ferry_bin(), (char *const *)margv);
			_exit(127);
		}
	}
	cr_assert_gt(mig, 0);
	line = t_wait_line(mout, "switched to post-copy", 30000);
	cr_assert(line, "no switch:\n%s", t_read_file(mout, NULL));
	free(line);
	expect_source_killed(&w);
	copy = host_pid_of(w.pid);
	cr_assert_gt(copy, 0, "no process is pid %d in a child namespace", w.pid);
	/* The source is lost: its ferry and, with it, its page server. */
	kill(mig, SIGKILL);
	waitpid(mig, NULL, 0);
	/* The copy reads its whole memory: the first missing page cannot come. */
	kill(copy, SIGUSR1);
	for (int i = 0; i < 200 && !gone; i++) {
		gone = kill(copy, 0) != 0;
		if (!gone)
			usleep(50000);
	}
	cr_expect(gone, "the copy (pid %d) still runs without its source", copy);
	for (int i = 0; i < 100; i++) {
		free(log);
		log = t_read_file(w.d.log, NULL);
		if (log && strstr(log, "cannot be filled"))
			break;
		usleep(50000);
	}
	cr_expect(log && strstr(log, "cannot be filled: page server ") &&
			  strstr(log, "killing pid"),
		  "the destination's log does not name the lost page server:\n%s", log);
	wout = t_read_file(w.out, NULL);
	cr_expect(!wout || !strstr(wout, "verify"), "the copy reported its memory: %s", wout);
	free(wout);
	free(log);
	teardown(&w);
}

/*
 * --postcopy auto for a scribbler that never converges (a downtime limit of
 * 0): the switch after --max-rounds at the latest; the copy verifies every
 * page holds its latest write.
 */
Test(migrate_postcopy, auto_switches)
{
	const char *argv[] = { "scribbler", "4096", "20", NULL };
	struct pw w = { 0 };
	char *out = NULL, *err = NULL;
	pid_t copy;
	int rc;

	setup(&w, argv, "");
	rc = t_run(&out, &err,
		   "%s migrate -t %d --to %s --secret-file %s --postcopy auto "
		   "--downtime-limit 0 --max-rounds 4 -v3",
		   t_ferry_bin(), w.pid, w.d.host_port, w.secret);
	cr_assert_eq(rc, 0, "ferry migrate failed (%d):\n%s\n%s\ndestination:\n%s", rc,
		     out ? out : "", err ? err : "", t_read_file(w.d.log, NULL));
	cr_log_info("migrate: %s", out);
	cr_expect(out && strstr(out, "round 2:"), "auto switched before round 2: %s", out);
	cr_expect(out && strstr(out, "switched to post-copy"), "no switch: %s", out);
	cr_expect(out && strstr(out, "every page is in"), "no PagesIn: %s", out);
	expect_source_killed(&w);
	copy = host_pid_of(w.pid);
	cr_assert_gt(copy, 0, "no process is pid %d in a child namespace", w.pid);
	t_expect_verdict(w.out, copy, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	free(out);
	free(err);
	teardown(&w);
}

/* PostcopyServer and PagesIn encoded and decoded back; a port out of range refused. */
Test(migrate_postcopy, wire_pdus)
{
	struct ber_enc e;
	struct ber_err be;
	struct mig_pdu p;

	ber_enc_init(&e);
	cr_assert_eq(mig_enc_postcopy(&e, 40123), 0);
	cr_assert_eq(mig_decode(e.buf, e.len, 0, MIG_FROM_SOURCE, &p, &be), 0, "%s", be.msg);
	cr_expect_eq(p.type, MIG_POSTCOPY);
	cr_expect_eq(p.postcopy.port, 40123);
	cr_expect_eq(e.buf[0], 't');
	/* Not from the destination. */
	cr_expect_eq(mig_decode(e.buf, e.len, 0, MIG_FROM_DEST, &p, &be), -EBADMSG);
	ber_enc_reset(&e);
	cr_expect_eq(mig_enc_postcopy(&e, 0), -EINVAL);
	cr_expect_eq(mig_enc_postcopy(&e, 65536), -EINVAL);
	/* Port 0 on the wire: refused at the INTEGER's offset. */
	cr_assert_eq(mig_decode("\x74\x03\x02\x01\x00", 5, 100, MIG_FROM_SOURCE, &p, &be),
		     -EBADMSG);
	cr_expect_eq(be.off, 102);
	ber_enc_reset(&e);
	cr_assert_eq(mig_enc_pages_in(&e, true, 16384, "every page is in"), 0);
	cr_assert_eq(mig_decode(e.buf, e.len, 0, MIG_FROM_DEST, &p, &be), 0, "%s", be.msg);
	cr_expect_eq(p.type, MIG_PAGES_IN);
	cr_expect(p.pages_in.ok);
	cr_expect_eq(p.pages_in.pages, 16384);
	cr_expect_eq(p.pages_in.msg_len, strlen("every page is in"));
	cr_expect_eq(e.buf[0], 'l');
	ber_enc_reset(&e);
	cr_assert_eq(mig_enc_section(&e, MIG_SEC_POSTCOPY, 2), 0);
	cr_assert_eq(mig_decode(e.buf, e.len, 0, MIG_FROM_SOURCE, &p, &be), 0, "%s", be.msg);
	cr_expect_eq(p.section.kind, MIG_SEC_POSTCOPY);
	ber_enc_free(&e);
}
