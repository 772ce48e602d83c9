// SPDX-License-Identifier: MIT
/*
 * A migration stream replayed from a file: the source's half of a real
 * migration, captured with --wire-log, is fed to `ferry migrate --incoming
 * --from-file` (in its own pid and mount namespaces): the tree is restored
 * again and verifies its memory. Corrupted copies of the capture (cut at a
 * PDU boundary and inside a PDU, a tag octet flipped in several PDUs) are
 * refused naming the stream offset, nothing is restored and the temporary
 * images directory is gone. Under --secret-file the capture is refused: its
 * proof answered the nonce of another session.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ber.h"
#include "helpers.h"
#include "migrate_helpers.h"
#include "migrate_wire.h"
#include "ps_wire.h"

#define VERDICT_MS 20000
#define MAX_PDUS 4096

struct capture {
	uint8_t *buf;
	size_t len;
	size_t off[MAX_PDUS]; /* where each PDU starts */
	size_t n;
};

/* Cut the capture into PDUs (the framing the destination uses). */
static void split_pdus(struct capture *c)
{
	size_t off = 0, total = 0;
	struct ber_err e;

	while (off < c->len && c->n < MAX_PDUS) {
		cr_assert_eq(ps_frame(c->buf + off, c->len - off, MIG_MAX_PDU, off, &total, &e), 1,
			     "the capture does not frame at offset %zu: %s", off, e.msg);
		c->off[c->n++] = off;
		off += total;
	}
	cr_assert_eq(off, c->len, "the capture has more than %d PDUs", MAX_PDUS);
}

/* The first PDU at or after PDU @from whose tag octet is @tag. */
static size_t find_pdu(const struct capture *c, size_t from, uint8_t tag)
{
	for (size_t i = from; i < c->n; i++)
		if (c->buf[c->off[i]] == tag)
			return i;
	cr_assert_fail("no PDU with tag 0x%02x in the capture", tag);
	return 0;
}

/*
 * Replay @file where nothing can be left behind (a pid namespace of its own)
 * and expect a refusal whose log line holds @expect; the temporary images
 * directory it names must be gone.
 */
static void replay_refused(const char *dir, const char *file, const char *args, const char *expect)
{
	char log[600], *out = NULL, *err = NULL, *l, *tmp, path[256];
	int rc;

	snprintf(log, sizeof(log), "%s/refused.log", dir);
	unlink(log);
	rc = t_run(
		&out, &err,
		"unshare -p -f --mount-proc %s migrate --incoming --from-file %s %s -v3 --log-file %s",
		t_ferry_bin(), file, args, log);
	l = t_read_file(log, NULL);
	cr_expect_neq(rc, 0, "a damaged replay was accepted:\n%s", l ? l : "");
	cr_expect(l && strstr(l, expect), "no \"%s\" in the destination's log:\n%s", expect,
		  l ? l : "");
	cr_expect(l && !strstr(l, "restored pid"), "something was restored:\n%s", l ? l : "");
	tmp = l ? strstr(l, "images in ") : NULL;
	cr_assert(tmp && sscanf(tmp, "images in %255s", path) == 1,
		  "no images directory named:\n%s", l ? l : "");
	cr_expect_neq(access(path, F_OK), 0, "%s was left behind", path);
	cr_log_info("refused as expected: %s", expect);
	free(l);
	free(out);
	free(err);
}

/* Write @len octets of the capture, with octet @flip (if < len) XORed with 0x80. */
static void write_copy(const char *path, const struct capture *c, size_t len, size_t flip)
{
	uint8_t *b = malloc(len ? len : 1);

	cr_assert(b);
	memcpy(b, c->buf, len);
	if (flip < len)
		b[flip] ^= 0x80;
	cr_assert_eq(t_write_file(path, b, len), 0);
	free(b);
}

Test(migrate_replay, captured_stream_restores_damaged_copies_refused)
{
	const char *argv[] = { "memhog", "16", "31", NULL };
	char *dir = t_tmpdir(), wout[512], cap[600], bad[600], secret[600], rout[600], rlog[600];
	char expect[160], cmd[4096], *out = NULL, *err = NULL, *log, *line;
	struct capture c = { 0 };
	struct t_netns ns;
	struct dest d = { 0 };
	pid_t pid, replay, copy;
	int r = t_netns_up(&ns), rc, status;
	size_t k;

	if (r == 1)
		cr_skip_test("cannot make a network namespace (ip netns add)");
	cr_assert_eq(r, 0, "network namespace setup failed");
	snprintf(wout, sizeof(wout), "%s/w.out", dir);
	snprintf(cap, sizeof(cap), "%s/stream.ber", dir);
	snprintf(bad, sizeof(bad), "%s/damaged.ber", dir);
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	write_secret(secret, "the replayed stream's secret 32b");
	pid = t_spawn_ready(wout, argv, "ready", 10000, NULL);

	/* A real migration, captured. */
	cr_assert_eq(start_dest(&d, ns.name, ns.there, dir, NULL, secret, 0), 0,
		     "the destination did not start");
	rc = t_run(&out, &err, "%s migrate -t %d --to %s --secret-file %s --wire-log %s",
		   t_ferry_bin(), pid, d.host_port, secret, cap);
	log = t_read_file(d.log, NULL);
	cr_assert_eq(rc, 0, "ferry migrate failed (%d):\n%s\n%s\ndestination:\n%s", rc,
		     out ? out : "", err ? err : "", log ? log : "");
	free(log);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	kill_dest(&d); /* its copy goes with its pid namespace */
	t_netns_down(&ns);
	c.buf = (uint8_t *)t_read_file(cap, &c.len);
	cr_assert(c.buf && c.len > 16 * 4096, "a capture of %zu octets", c.len);
	split_pdus(&c);
	cr_log_info("capture: %zu octets in %zu PDUs", c.len, c.n);

	/* Its proof answered another nonce. */
	snprintf(cmd, sizeof(cmd), "--secret-file %s", secret);
	replay_refused(dir, cap, cmd, "wrong proof of the shared secret");
	/* Flipped tags: the hello, the first section, an area, a Pages, the last end mark. */
	{
		size_t which[] = { find_pdu(&c, 0, 0x60 | MIG_HELLO),
				   find_pdu(&c, 0, 0x60 | MIG_SECTION),
				   find_pdu(&c, 0, 0x60 | MIG_AREA),
				   find_pdu(&c, 0, 0x60 | MIG_PAGES), c.n - 1 };

		for (k = 0; k < sizeof(which) / sizeof(which[0]); k++) {
			write_copy(bad, &c, c.len, c.off[which[k]]);
			snprintf(expect, sizeof(expect),
				 "bad BER at stream offset %zu:", c.off[which[k]]);
			replay_refused(dir, bad, "", expect);
		}
	}
	/* Cut inside the first Pages PDU, and right before the last end mark. */
	k = find_pdu(&c, 0, 0x60 | MIG_PAGES);
	write_copy(bad, &c, c.off[k] + 100, SIZE_MAX);
	snprintf(expect, sizeof(expect), "the connection ended at stream offset %zu, inside a PDU",
		 c.off[k] + 100);
	replay_refused(dir, bad, "", expect);
	write_copy(bad, &c, c.off[c.n - 1], SIZE_MAX);
	snprintf(expect, sizeof(expect), "the connection ended at stream offset %zu\n",
		 c.off[c.n - 1]);
	replay_refused(dir, bad, "", expect);

	/* The capture as it is: the tree again, in a pid namespace of its own. */
	snprintf(rout, sizeof(rout), "%s/replay.out", dir);
	snprintf(rlog, sizeof(rlog), "%s/replay.log", dir);
	snprintf(cmd, sizeof(cmd),
		 "exec unshare -p -f --mount-proc %s migrate --incoming --from-file %s -v3 "
		 "--log-file %s >%s 2>&1",
		 t_ferry_bin(), cap, rlog, rout);
	replay = fork();
	if (replay == 0) {
		setpgid(0, 0);
		syscall(SYS_close_range, 3, ~0u, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	cr_assert_gt(replay, 0);
	line = t_wait_line(rout, "the tree runs", 30000);
	log = t_read_file(rlog, NULL);
	cr_assert(line, "the replay restored nothing:\n%s", log ? log : "");
	free(line);
	free(log);
	copy = host_pid_of(pid);
	cr_assert_gt(copy, 0, "no process is pid %d in a child namespace", pid);
	t_expect_verdict(wout, copy, SIGUSR1, "memhog: verify ok", "verify BAD", VERDICT_MS);
	kill(-replay, SIGKILL);
	waitpid(replay, NULL, 0);
	free(c.buf);
	free(out);
	free(err);
	t_rmrf(dir);
	free(dir);
}
