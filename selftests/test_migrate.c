// SPDX-License-Identifier: MIT
/*
 * `ferry migrate` end to end: a workload that never stops writing
 * (scribbler) migrated to a destination in its own network, pid and mount
 * namespaces (veth pair; the source's pids are still taken here), where it
 * verifies its memory; the source is gone only after that. The destination
 * killed mid-migration, or failing its verdict while the source is frozen:
 * the source keeps running, released (not traced, not tracked, nothing
 * write-protected) and verifies its memory. A wrong secret is refused before
 * anything is touched. A destination fed garbage or a cut stream names the
 * offset, restores nothing and exits non-zero. The layers of the new folders.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "migrate_helpers.h"
#include "img.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"
#include "migrate_wire.h"
#include "tracker.h"

#define VERDICT_MS 10000

struct w {
	char *dir;
	char out[512];
	pid_t pid;
};

static void spawn_scribbler(struct w *w)
{
	const char *argv[] = { "scribbler", "4096", "20", NULL };
	char *line;

	w->dir = t_tmpdir();
	snprintf(w->out, sizeof(w->out), "%s/w.out", w->dir);
	w->pid = t_spawn(w->out, argv);
	cr_assert_gt(w->pid, 0);
	line = t_wait_line(w->out, "ready", 5000);
	cr_assert(line, "scribbler did not start");
	free(line);
}

static int not_tracked(pid_t pid)
{
	char *out = NULL;
	int rc = t_run(&out, NULL, "%s track -t %d --status", t_ferry_bin(), pid);
	int no = rc == 0 && out && strstr(out, "is not tracked");

	free(out);
	return no;
}

/* The source after a failed migration: running, released, untracked, its memory intact. */
static void expect_released(struct w *w, const char *when)
{
	char st = t_proc_state(w->pid);
	char *out = NULL;

	cr_expect(st == 'S' || st == 'R', "%s: source pid %d is in state '%c'", when, w->pid, st);
	cr_expect_eq(t_proc_field(w->pid, "TracerPid"), 0, "%s: pid %d is still traced", when,
		     w->pid);
	cr_expect(not_tracked(w->pid), "%s: pid %d is still tracked", when, w->pid);
	cr_expect(t_run(&out, NULL, "grep -q '^VmFlags:.* uw' /proc/%d/smaps", w->pid) != 0,
		  "%s: pid %d still has uffd-wp registered memory", when, w->pid);
	free(out);
	t_expect_verdict(w->out, w->pid, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
}

/*
 * Pre-copy between two namespaces: rounds while the scribbler writes, the
 * final section, the verdict; the source is killed, the copy runs and
 * verifies that every page holds its latest write. The captured stream is
 * BER that openssl reads to its end mark.
 */
static void precopy_netns(int lazy)
{
	struct t_netns ns = { 0 };
	struct dest d = { 0 };
	struct w w;
	char img[600], wire[600], secret[600], *out = NULL, *err = NULL, *line;
	pid_t copy;
	int rc, status = 0, r;

	r = t_netns_up(&ns);
	if (r == 1)
		cr_skip_test("cannot make a network namespace (ip netns add)");
	cr_assert_eq(r, 0, "network namespace setup failed");
	spawn_scribbler(&w);
	snprintf(img, sizeof(img), "%s/dest-img", w.dir);
	snprintf(wire, sizeof(wire), "%s/wire.ber", w.dir);
	snprintf(secret, sizeof(secret), "%s/secret", w.dir);
	write_secret(secret, "a secret of twenty-four bytes");
	cr_assert_eq(start_dest(&d, ns.name, ns.there, w.dir, img, secret, lazy), 0,
		     "the destination did not start");
	rc = t_run(&out, &err,
		   "%s migrate -t %d --to %s --secret-file %s --json --wire-log %s "
		   "--downtime-limit 300 --max-rounds 6 -v3",
		   t_ferry_bin(), w.pid, d.host_port, secret, wire);
	cr_assert_eq(rc, 0, "ferry migrate failed (%d):\n%s\n%s\ndestination:\n%s", rc,
		     out ? out : "", err ? err : "", t_read_file(d.log, NULL));
	cr_log_info("migrate: %s", out);
	cr_expect(out && strstr(out, "\"event\":\"round\",\"round\":1,"), "no round 1: %s", out);
	cr_expect(out && strstr(out, "\"event\":\"done\""), "no summary: %s", out);
	/* The source is gone (killed by ferry once the destination answered). */
	cr_assert_eq(waitpid(w.pid, &status, 0), w.pid);
	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the source ended 0x%x",
		  status);
	line = t_wait_line(d.out, "the tree runs, root pid", 5000);
	cr_assert(line, "the destination did not report the tree running");
	free(line);
	/* The copy: same pid inside the destination's namespace, another one here. */
	copy = host_pid_of(w.pid);
	cr_assert_gt(copy, 0, "no process is pid %d in a child namespace", w.pid);
	t_expect_verdict(w.out, copy, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	/* The destination's images are CRIU's. */
	if (t_crit()) {
		char *o2 = NULL;

		rc = t_run(&o2, NULL, "%s decode -i %s/pagemap-%d.img", t_crit(), img, w.pid);
		cr_expect_eq(rc, 0, "crit cannot decode the destination's pagemap: %s", o2);
		free(o2);
	}
	if (!t_run(NULL, NULL, "command -v openssl")) {
		char *o2 = NULL;

		rc = t_run(&o2, NULL, "openssl asn1parse -inform DER -in %s | tail -3", wire);
		cr_expect_eq(rc, 0, "openssl asn1parse refused the stream");
		cr_expect(o2 && strstr(o2, "appl [ 26 ]"),
			  "the stream does not end with an EndMark:\n%s", o2);
		free(o2);
		rc = t_run(&o2, NULL, "openssl asn1parse -inform DER -in %s | head -1", wire);
		cr_expect(o2 && strstr(o2, "appl [ 13 ]"),
			  "the stream does not start with 'm':\n%s", o2);
		free(o2);
	}
	free(out);
	free(err);
	kill_dest(&d);
	t_netns_down(&ns);
	t_rmrf(w.dir);
	free(w.dir);
}

Test(migrate, precopy_netns)
{
	precopy_netns(0);
}

/* The same, the destination resuming the tree at once and filling its memory lazily. */
Test(migrate, precopy_netns_lazy)
{
	precopy_netns(1);
}

/*
 * Rounds that never converge (a downtime limit of 0), then after round 2 the
 * destination is killed (@sigint 0) or ferry migrate gets SIGINT (1): ferry
 * migrate fails, and the source runs on, released. With @sigint 2 ferry
 * migrate is SIGKILLed instead: the destination gives up, restores nothing and
 * exits non-zero; the source runs on, its tracking left armed as a killed
 * pre-dump leaves it, until `ferry track --stop`.
 */
static void rounds_then_fail(int sigint)
{
	struct t_netns ns = { 0 };
	struct dest d = { 0 };
	struct w w;
	char mout[600], cmd[2048], secret[600], *line;
	pid_t mig;
	int status = 0, r;

	r = t_netns_up(&ns);
	if (r == 1)
		cr_skip_test("cannot make a network namespace (ip netns add)");
	cr_assert_eq(r, 0, "network namespace setup failed");
	spawn_scribbler(&w);
	snprintf(secret, sizeof(secret), "%s/secret", w.dir);
	write_secret(secret, "a secret of twenty-four bytes");
	cr_assert_eq(start_dest(&d, ns.name, ns.there, w.dir, NULL, secret, 0), 0,
		     "the destination did not start");
	snprintf(mout, sizeof(mout), "%s/migrate.out", w.dir);
	snprintf(cmd, sizeof(cmd),
		 "exec %s migrate -t %d --to %s --secret-file %s --downtime-limit 0 "
		 "--max-rounds 1000 -v3 >%s 2>&1",
		 t_ferry_bin(), w.pid, d.host_port, secret, mout);
	mig = fork();
	if (mig == 0) {
		syscall(SYS_close_range, 3, ~0u, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	line = t_wait_line(d.log, "iteration section of round 2", 30000);
	cr_assert(line, "the destination never got round 2:\n%s", t_read_file(mout, NULL));
	free(line);
	if (sigint == 2) {
		int dstatus = 0;
		char *log;

		kill(mig, SIGKILL);
		cr_assert_eq(waitpid(mig, &status, 0), mig);
		cr_assert_eq(waitpid(d.pid, &dstatus, 0), d.pid, "the destination did not exit");
		d.pid = 0;
		cr_expect(WIFEXITED(dstatus) && WEXITSTATUS(dstatus) != 0,
			  "the destination exited 0x%x", dstatus);
		log = t_read_file(d.log, NULL);
		cr_expect(log && strstr(log, "nothing was restored"), "%s", log);
		free(log);
		cr_expect(host_pid_of(w.pid) == 0, "a copy of pid %d was left running", w.pid);
		cr_assert_eq(t_run(NULL, NULL, "%s track -t %d --stop", t_ferry_bin(), w.pid), 0);
		expect_released(&w, "ferry migrate killed, then track --stop");
		goto out;
	}
	if (sigint)
		kill(mig, SIGINT);
	else
		kill_dest(&d);
	cr_assert_eq(waitpid(mig, &status, 0), mig);
	/* Interrupted, it dies of the signal once the source is released (or exits 1). */
	cr_expect((WIFEXITED(status) && WEXITSTATUS(status) != 0) ||
			  (sigint && WIFSIGNALED(status) && WTERMSIG(status) == SIGINT),
		  "ferry migrate did not fail (0x%x):\n%s", status, t_read_file(mout, NULL));
	line = t_wait_line(mout, "released and keeps running", 0);
	cr_expect(line, "no word of the source's release:\n%s", t_read_file(mout, NULL));
	free(line);
	expect_released(&w, sigint ? "ferry migrate interrupted" : "destination killed");
out:
	kill_dest(&d);
	t_kill_wait(w.pid);
	t_netns_down(&ns);
	t_rmrf(w.dir);
	free(w.dir);
}

Test(migrate, dest_killed_source_kept)
{
	rounds_then_fail(0);
}

Test(migrate, sigint_source_kept)
{
	rounds_then_fail(1);
}

Test(migrate, source_killed_dest_cleans_up)
{
	rounds_then_fail(2);
}

/* A stand-in destination on loopback that takes the whole stream, then fails its verdict. */
static void fake_dest(int lfd, int mode)
{
	uint8_t nonce[PS_NONCE_SIZE] = { 1 };
	struct mig_conn c;
	struct mig_pdu p;
	int fd = accept(lfd, NULL, NULL), final = 0;

	if (fd < 0)
		_exit(2);
	mig_conn_init(&c, fd, "fake");
	ps_enc_server_hello(&c.enc, 1, nonce, false);
	if (mig_send(&c, &c.enc) || mig_recv(&c, MIG_FROM_SOURCE, &p) || p.type != MIG_HELLO)
		_exit(3);
	ps_enc_ready(&c.enc, 0);
	if (mig_send(&c, &c.enc))
		_exit(4);
	for (;;) {
		if (mig_recv(&c, MIG_FROM_SOURCE, &p))
			_exit(5);
		if (p.type == MIG_SECTION && p.section.kind == MIG_SEC_FINAL)
			final = 1;
		if (final && p.type == MIG_END)
			break;
	}
	/* The source is frozen now, waiting for the verdict. */
	if (mode == 0)
		mig_enc_verdict(&c.enc, false, 0, "restore failed (test)");
	if (mode == 0 && mig_send(&c, &c.enc))
		_exit(6);
	mig_conn_free(&c); /* mode 1: the connection drops instead */
	_exit(0);
}

static void frozen_then_failed(int mode)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	char *out = NULL, *err = NULL;
	struct w w;
	pid_t fake;
	int lfd, rc, status = 0;

	spawn_scribbler(&w);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(lfd >= 0 && !bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) && !listen(lfd, 1) &&
		  !getsockname(lfd, (struct sockaddr *)&sa, &sl));
	fake = fork();
	if (fake == 0)
		fake_dest(lfd, mode);
	close(lfd);
	rc = t_run(&out, &err, "%s migrate -t %d --to 127.0.0.1:%d --max-rounds 2 -v3",
		   t_ferry_bin(), w.pid, ntohs(sa.sin_port));
	cr_expect_neq(rc, 0, "ferry migrate succeeded without a verdict:\n%s", out);
	cr_expect(err && strstr(err, "released"), "no word of the release:\n%s", err);
	cr_assert_eq(waitpid(fake, &status, 0), fake);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the fake destination: 0x%x",
		  status);
	expect_released(&w, mode ? "connection dropped before the verdict" : "verdict: failed");
	free(out);
	free(err);
	t_kill_wait(w.pid);
	t_rmrf(w.dir);
	free(w.dir);
}

/* The final section was sent; the destination says it could not restore: the source goes on. */
Test(migrate, verdict_failed_source_kept)
{
	frozen_then_failed(0);
}

/* The final section was sent; the connection drops with no verdict: the source goes on. */
Test(migrate, no_verdict_source_kept)
{
	frozen_then_failed(1);
}

/* A wrong secret is refused at the hello: the source is never touched. */
Test(migrate, wrong_secret)
{
	struct dest d = { 0 };
	struct w w;
	char good[600], bad[600], *err = NULL;
	int rc;

	spawn_scribbler(&w);
	snprintf(good, sizeof(good), "%s/good", w.dir);
	snprintf(bad, sizeof(bad), "%s/bad", w.dir);
	write_secret(good, "the right secret, 24 bytes");
	write_secret(bad, "the wrong secret, 24 bytes");
	cr_assert_eq(start_dest(&d, NULL, "127.0.0.1", w.dir, NULL, good, 0), 0);
	rc = t_run(NULL, &err, "%s migrate -t %d --to %s --secret-file %s", t_ferry_bin(), w.pid,
		   d.host_port, bad);
	cr_expect_neq(rc, 0, "a wrong secret was accepted");
	cr_expect(err && strstr(err, "wrong proof"), "the refusal does not say why:\n%s", err);
	free(err);
	cr_expect_eq(t_proc_field(w.pid, "TracerPid"), 0);
	cr_expect(not_tracked(w.pid));
	kill_dest(&d);
	t_kill_wait(w.pid);
	t_rmrf(w.dir);
	free(w.dir);
}

/*
 * Migrate the tree of workload @argv (started, "ready" seen) over loopback to
 * a destination in its own pid and mount namespace; returns that
 * destination, the tree running there. Fails the test if the migration does.
 */
static void migrate_loopback(struct w *w, struct dest *d, const char *const argv[])
{
	char *out = NULL, *err = NULL, *line;
	int rc, status = 0;

	w->dir = t_tmpdir();
	snprintf(w->out, sizeof(w->out), "%s/w.out", w->dir);
	w->pid = t_spawn(w->out, argv);
	cr_assert_gt(w->pid, 0);
	line = t_wait_line(w->out, "ready", 5000);
	cr_assert(line, "%s did not start", argv[0]);
	free(line);
	cr_assert_eq(start_dest(d, NULL, "127.0.0.1", w->dir, NULL, NULL, 0), 0);
	rc = t_run(&out, &err, "%s migrate -t %d --to %s -v3", t_ferry_bin(), w->pid, d->host_port);
	cr_assert_eq(rc, 0, "ferry migrate of %s failed (%d):\n%s\ndestination:\n%s", argv[0], rc,
		     err ? err : "", t_read_file(d->log, NULL));
	cr_assert_eq(waitpid(w->pid, &status, 0), w->pid);
	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the source ended 0x%x",
		  status);
	free(out);
	free(err);
}

/* A process with 4 threads, each checking its TLS buffer on the destination. */
Test(migrate, threads)
{
	const char *argv[] = { "threads", "4", NULL };
	struct dest d = { 0 };
	struct w w;
	pid_t copy;

	migrate_loopback(&w, &d, argv);
	copy = host_pid_of(w.pid);
	cr_assert_gt(copy, 0, "no copy of pid %d", w.pid);
	t_expect_verdict(w.out, copy, SIGUSR1, "threads: verify ok", "verify BAD", VERDICT_MS);
	kill_dest(&d);
	t_rmrf(w.dir);
	free(w.dir);
}

/* A tree of three with a pipe holding data in flight: the reader checks the bytes there. */
Test(migrate, family_pipe_in_flight)
{
	const char *argv[] = { "family", "20000", NULL };
	struct dest d = { 0 };
	int parent = 0, reader = 0, busy = 0;
	struct w w;
	char *line;
	pid_t copy;

	migrate_loopback(&w, &d, argv);
	line = t_wait_line(w.out, "family: parent", 0);
	cr_assert(line && sscanf(line, "family: parent %d reader %d busy %d", &parent, &reader,
				 &busy) == 3);
	free(line);
	for (int i = 0; i < 3; i++) {
		pid_t p = i == 0 ? parent : i == 1 ? reader : busy;

		cr_expect_gt(host_pid_of(p), 0, "pid %d has no copy on the destination", p);
	}
	copy = host_pid_of(reader);
	cr_assert_gt(copy, 0);
	t_expect_verdict(w.out, copy, SIGUSR1, "family: reader pipe ok", "pipe BAD", VERDICT_MS);
	kill_dest(&d);
	t_rmrf(w.dir);
	free(w.dir);
}

/*
 * --max-bandwidth 4M: 16 MiB of memory take at least 4 s to send, and the
 * bandwidth ferry reports for round 1 is at most the limit.
 */
Test(migrate, max_bandwidth)
{
	const char *argv[] = { "memhog", "16", "7", NULL };
	char *out = NULL, *err = NULL, *line, *p;
	struct dest d = { 0 };
	double bw = 0, send_ms = 0;
	int rc, status = 0;
	struct w w;
	pid_t copy;

	w.dir = t_tmpdir();
	snprintf(w.out, sizeof(w.out), "%s/w.out", w.dir);
	w.pid = t_spawn(w.out, argv);
	line = t_wait_line(w.out, "ready", 10000);
	cr_assert(line, "memhog did not start");
	free(line);
	cr_assert_eq(start_dest(&d, NULL, "127.0.0.1", w.dir, NULL, NULL, 0), 0);
	rc = t_run(&out, &err, "%s migrate -t %d --to %s --max-bandwidth 4M --json", t_ferry_bin(),
		   w.pid, d.host_port);
	cr_assert_eq(rc, 0, "ferry migrate failed (%d):\n%s", rc, err ? err : "");
	p = out ? strstr(out, "\"round\":1,") : NULL;
	cr_assert(p, "no round 1: %s", out);
	cr_assert(sscanf(strstr(p, "\"send_ms\":"), "\"send_ms\":%lf", &send_ms) == 1);
	cr_assert(sscanf(strstr(p, "\"bandwidth_bytes_per_s\":"), "\"bandwidth_bytes_per_s\":%lf",
			 &bw) == 1);
	cr_log_info("max_bandwidth: round 1 sent in %.0f ms at %.0f bytes/s", send_ms, bw);
	cr_expect_geq(send_ms, 3500, "16 MiB at 4 MiB/s went in %.0f ms", send_ms);
	cr_expect_leq(bw, 4.0 * 1048576 * 1.05, "round 1 ran at %.0f bytes/s", bw);
	cr_assert_eq(waitpid(w.pid, &status, 0), w.pid);
	copy = host_pid_of(w.pid);
	cr_assert_gt(copy, 0);
	t_expect_verdict(w.out, copy, SIGUSR1, "memhog: verify ok", "verify BAD", VERDICT_MS);
	free(out);
	free(err);
	kill_dest(&d);
	t_rmrf(w.dir);
	free(w.dir);
}

/* A destination off loopback without a secret is refused: anyone could run processes there. */
Test(migrate, dest_needs_secret_off_loopback)
{
	char *out = NULL, *err = NULL;
	int rc = t_run(&out, &err, "%s migrate --incoming --address 0.0.0.0 --port 0",
		       t_ferry_bin());

	cr_expect_neq(rc, 0, "it listened on 0.0.0.0 without a secret:\n%s", out);
	cr_expect(err && strstr(err, "without --secret-file"), "%s", err);
	cr_expect(!out || !strstr(out, "listening"), "%s", out);
	free(out);
	free(err);
}

/* Connect to the destination and take its ServerHello. */
static int dest_connect(const char *host_port, struct mig_conn *c)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct mig_pdu p;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_port = htons((uint16_t)atoi(strrchr(host_port, ':') + 1));
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	mig_conn_init(c, fd, "test");
	c->timeout_ms = 5000;
	cr_assert_eq(mig_recv(c, MIG_FROM_DEST, &p), 0);
	cr_assert_eq(p.type, MIG_SRV_HELLO);
	return 0;
}

/* Garbage after a good hello: the destination names the offset and exits non-zero. */
Test(migrate, dest_refuses_garbage)
{
	char *dir = t_tmpdir(), *log;
	struct dest d = { 0 };
	struct mig_conn c;
	struct mig_pdu p;
	size_t off;
	int status = 0;

	cr_assert_eq(start_dest(&d, NULL, "127.0.0.1", dir, NULL, NULL, 0), 0);
	dest_connect(d.host_port, &c);
	mig_enc_hello(&c.enc, 1, NULL);
	cr_assert_eq(mig_send(&c, &c.enc), 0);
	cr_assert_eq(mig_recv(&c, MIG_FROM_DEST, &p), 0);
	cr_assert_eq(p.type, MIG_READY);
	off = (size_t)c.sent;
	/* A Section, then a MemoryArea whose start is not page aligned. */
	mig_enc_section(&c.enc, MIG_SEC_SETUP, 0);
	cr_assert_eq(mig_send(&c, &c.enc), 0);
	off = (size_t)c.sent;
	cr_assert_eq(
		write(c.fd, "\x61\x0d\x02\x01\x00\x02\x01\x01\x02\x02\x10\x01\x02\x01\x01", 15),
		15);
	cr_assert_eq(mig_recv(&c, MIG_FROM_DEST, &p), 0, "no Error back");
	cr_expect_eq(p.type, MIG_ERROR);
	mig_conn_free(&c);
	cr_assert_eq(waitpid(d.pid, &status, 0), d.pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) != 0, "the destination exited 0x%x",
		  status);
	log = t_read_file(d.log, NULL);
	{
		char want[64];

		snprintf(want, sizeof(want), "stream offset %zu", off + 8);
		cr_expect(log && strstr(log, want) && strstr(log, "not page aligned"),
			  "the log does not name offset %zu:\n%s", off + 8, log);
	}
	free(log);
	d.pid = 0;
	t_rmrf(dir);
	free(dir);
}

/* The source vanishes inside a section: the destination restores nothing and says where. */
Test(migrate, dest_cut_stream)
{
	char *dir = t_tmpdir(), *log;
	struct dest d = { 0 };
	struct mig_conn c;
	struct mig_pdu p;
	int status = 0;

	cr_assert_eq(start_dest(&d, NULL, "127.0.0.1", dir, NULL, NULL, 0), 0);
	dest_connect(d.host_port, &c);
	mig_enc_hello(&c.enc, 1, NULL);
	cr_assert_eq(mig_send(&c, &c.enc), 0);
	cr_assert_eq(mig_recv(&c, MIG_FROM_DEST, &p), 0);
	mig_enc_section(&c.enc, MIG_SEC_SETUP, 0);
	mig_enc_area(&c.enc, 0, 100, 0x10000, 4);
	cr_assert_eq(mig_send(&c, &c.enc), 0);
	mig_enc_end(&c.enc, 0, 1);
	cr_assert_eq(write(c.fd, c.enc.buf, 3), 3); /* half an EndMark */
	ber_enc_reset(&c.enc);
	mig_conn_free(&c);
	cr_assert_eq(waitpid(d.pid, &status, 0), d.pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) != 0, "the destination exited 0x%x",
		  status);
	log = t_read_file(d.log, NULL);
	cr_expect(log && strstr(log, "inside a PDU") && strstr(log, "nothing was restored"),
		  "the log does not say where the stream ended:\n%s", log);
	free(log);
	d.pid = 0;
	t_rmrf(dir);
	free(dir);
}

/* A pagemap-100.img with one present run of 2 pages at 0x10000, as bytes. */
static char *make_pagemap(const char *dir, size_t *len)
{
	PagemapHead h = PAGEMAP_HEAD__INIT;
	PagemapEntry e = PAGEMAP_ENTRY__INIT;
	char path[600];
	struct img *img;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	h.pages_id = 1;
	e.vaddr = 0x10000;
	e.compat_nr_pages = 2;
	e.has_nr_pages = 1;
	e.nr_pages = 2;
	e.has_flags = 1;
	e.flags = PE_PRESENT;
	cr_assert_eq(img_create(&img, dfd, "pagemap-100.img", IMG_PAGEMAP), 0);
	cr_assert_eq(img_write_entry(img, &h.base), 0);
	cr_assert_eq(img_write_entry(img, &e.base), 0);
	cr_assert_eq(img_commit(img), 0);
	close(dfd);
	snprintf(path, sizeof(path), "%s/pagemap-100.img", dir);
	return t_read_file(path, len);
}

/* Pages that are not the ones the round's pagemap lists are refused, naming both addresses. */
Test(migrate, dest_refuses_pages_off_the_pagemap)
{
	char *dir = t_tmpdir(), *log, *pm;
	uint8_t page[MIG_PAGE_SIZE];
	struct dest d = { 0 };
	struct mig_conn c;
	struct mig_pdu p;
	size_t pm_len = 0;
	int status = 0;

	memset(page, 0x5a, sizeof(page));
	pm = make_pagemap(dir, &pm_len);
	cr_assert(pm);
	cr_assert_eq(start_dest(&d, NULL, "127.0.0.1", dir, NULL, NULL, 0), 0);
	dest_connect(d.host_port, &c);
	mig_enc_hello(&c.enc, 1, NULL);
	cr_assert_eq(mig_send(&c, &c.enc), 0);
	cr_assert_eq(mig_recv(&c, MIG_FROM_DEST, &p), 0);
	mig_enc_section(&c.enc, MIG_SEC_SETUP, 0);
	mig_enc_area(&c.enc, 0, 100, 0x10000, 4);
	mig_enc_end(&c.enc, 0, 1);
	mig_enc_section(&c.enc, MIG_SEC_ITERATION, 1);
	mig_enc_image(&c.enc, "pagemap-100.img", pm, pm_len);
	/* Page 1 of the area (0x11000) where the pagemap starts at 0x10000. */
	mig_enc_pages(&c.enc, 0, 1, page, 1);
	cr_assert_eq(mig_send(&c, &c.enc), 0);
	cr_assert_eq(mig_recv(&c, MIG_FROM_DEST, &p), 0, "no Error back");
	cr_expect_eq(p.type, MIG_ERROR);
	mig_conn_free(&c);
	cr_assert_eq(waitpid(d.pid, &status, 0), d.pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) != 0, "the destination exited 0x%x",
		  status);
	log = t_read_file(d.log, NULL);
	cr_expect(log && strstr(log, "page 0x11000 came where its pagemap expects 0x10000"),
		  "the log does not name the pages:\n%s", log);
	free(log);
	free(pm);
	d.pid = 0;
	t_rmrf(dir);
	free(dir);
}

/* scripts/layers.sh: the receiver (restore/migrate) may not include the sender (user/migrate). */
Test(migrate, layers)
{
	char *dir = t_tmpdir(), *err = NULL, script[PATH_MAX];
	const char *b = getenv("FERRY_BUILD");
	int rc;

	snprintf(script, sizeof(script), "%s/../scripts/layers.sh", b ? b : "build");
	cr_assert_eq(t_run(NULL, NULL,
			   "cd %s && mkdir -p user/core user/migrate restore/migrate proto bpf && "
			   ": > user/core/c.h && : > user/migrate/s.h && "
			   "printf '#include \"c.h\"\\n' > user/migrate/s.c && "
			   "printf '#include \"c.h\"\\n' > restore/migrate/r.c",
			   dir),
		     0);
	rc = t_run(NULL, &err, "LAYERS_ROOT=%s bash %s", dir, script);
	cr_assert_eq(rc, 0, "a good tree was refused: %s", err ? err : "");
	free(err);
	cr_assert_eq(
		t_run(NULL, NULL, "printf '#include \"s.h\"\\n' > %s/restore/migrate/r.c", dir), 0);
	rc = t_run(NULL, &err, "LAYERS_ROOT=%s bash %s", dir, script);
	cr_expect_eq(rc, 1, "the receiver including the sender passed");
	cr_expect(err && strstr(err, "restore/migrate/r.c includes \"s.h\""), "%s", err ? err : "");
	free(err);
	t_rmrf(dir);
	free(dir);
}
