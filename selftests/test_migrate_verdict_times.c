// SPDX-License-Identifier: MIT
/*
 * Where the downtime goes, to the last part: the destination's Verdict
 * carries its DestinationTimes (the final section, the restore), and the
 * source's --json "done" event reports them next to its own phases (freeze,
 * final dump, send). The optional component encoded, decoded, absent (an
 * older destination), refused when malformed with its offset, accepted by
 * libtasn1's asn1Decoding against docs/pageserver.asn1; and end to end: a
 * migration's phases add up to its downtime.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ber.h"
#include "helpers.h"
#include "migrate_helpers.h"
#include "migrate_wire.h"

Test(migrate_verdict_times, encoded_decoded_or_absent)
{
	struct ber_enc e;
	struct ber_err err;
	struct mig_pdu p;

	ber_enc_init(&e);
	cr_assert_eq(mig_enc_verdict_times(&e, true, 42, "runs", 1234, 5678901), 0);
	cr_assert_eq(ber_enc_finish(&e), 0);
	cr_assert_eq(mig_decode(e.buf, e.len, 0, MIG_FROM_DEST, &p, &err), 0, "%s", err.msg);
	cr_expect(p.verdict.ok && p.verdict.root == 42);
	cr_expect(p.verdict.has_times);
	cr_expect_eq(p.verdict.section_us, 1234);
	cr_expect_eq(p.verdict.restore_us, 5678901);
	ber_enc_reset(&e);
	cr_assert_eq(mig_enc_verdict(&e, false, 0, "no"), 0);
	cr_assert_eq(ber_enc_finish(&e), 0);
	cr_assert_eq(mig_decode(e.buf, e.len, 0, MIG_FROM_DEST, &p, &err), 0, "%s", err.msg);
	cr_expect(!p.verdict.has_times, "a Verdict without times has times");
	ber_enc_free(&e);
}

Test(migrate_verdict_times, malformed_refused_at_offset)
{
	/* Verdict { TRUE, 5, "x", { -1, 0 } }: a negative time at offset 13 */
	const uint8_t neg[] = { 0x76, 0x11, 0x01, 0x01, 0xff, 0x02, 0x01, 0x05, 0x0c, 0x01,
				'x',  0x30, 0x06, 0x02, 0x01, 0xff, 0x02, 0x01, 0x00 };
	/* ... { 7 }: the restore's time missing, the sequence ends at offset 16 */
	const uint8_t cut[] = { 0x76, 0x0e, 0x01, 0x01, 0xff, 0x02, 0x01, 0x05,
				0x0c, 0x01, 'x',  0x30, 0x03, 0x02, 0x01, 0x07 };
	struct ber_err err;
	struct mig_pdu p;

	cr_assert_eq(mig_decode(neg, sizeof(neg), 100, MIG_FROM_DEST, &p, &err), -EBADMSG);
	cr_expect(strstr(err.msg, "finalSectionMicros"), "%s", err.msg);
	cr_expect(err.off == 113 || err.off == 115, "offset %zu: %s", err.off, err.msg);
	cr_assert_eq(mig_decode(cut, sizeof(cut), 0, MIG_FROM_DEST, &p, &err), -EBADMSG);
	cr_expect(strstr(err.msg, "restoreMicros"), "%s", err.msg);
	cr_log_info("refused: at %zu: %s", err.off, err.msg);
}

static const char *schema_path(void)
{
	static char path[PATH_MAX], real[PATH_MAX];
	const char *b = getenv("FERRY_BUILD");

	snprintf(path, sizeof(path), "%s/../docs/pageserver.asn1", b ? b : ".");
	if (!realpath(path, real) && !realpath("docs/pageserver.asn1", real))
		cr_assert_fail("docs/pageserver.asn1 not found (set FERRY_BUILD)");
	return real;
}

Test(migrate_verdict_times, schema_asn1decoding)
{
	char *dir, path[PATH_MAX], *out = NULL, *err = NULL;
	struct ber_enc e;
	int rc;

	if (t_run(NULL, NULL, "command -v asn1Decoding"))
		cr_skip_test("asn1Decoding is not installed (Debian package libtasn1-bin)");
	dir = t_tmpdir();
	ber_enc_init(&e);
	cr_assert_eq(mig_enc_verdict_times(&e, true, 1234, "runs", 4321, 98765), 0);
	cr_assert_eq(ber_enc_finish(&e), 0);
	snprintf(path, sizeof(path), "%s/verdict.der", dir);
	cr_assert_eq(t_write_file(path, e.buf, e.len), 0);
	rc = t_run(&out, &err, "asn1Decoding %s %s FerryWire.DestinationPdu", schema_path(), path);
	cr_assert_eq(rc, 0, "asn1Decoding failed: %s%s", out ? out : "", err ? err : "");
	cr_expect(out && err && strstr(err, "Decoding: SUCCESS") && strstr(out, "name:verdict") &&
			  strstr(out, "name:restoreMicros"),
		  "%s%s", out ? out : "", err ? err : "");
	free(out);
	free(err);
	ber_enc_free(&e);
	t_rmrf(dir);
	free(dir);
}

static double num(const char *s, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(s, k);
	cr_assert(p, "no %s in %s", key, s);
	return strtod(p + strlen(k), NULL);
}

/* A migration's phases, its own and the destination's, add up to its downtime. */
Test(migrate_verdict_times, phases_add_up_to_the_downtime)
{
	const char *argv[] = { "memhog", "16", "41", NULL };
	char *dir = t_tmpdir(), wout[512], secret[600], *out = NULL, *err = NULL, *log;
	double down, dump, send, wait, sect, rest;
	struct t_netns ns;
	struct dest d = { 0 };
	const char *done;
	int r = t_netns_up(&ns), rc, status;
	pid_t pid;

	if (r == 1)
		cr_skip_test("cannot make a network namespace (ip netns add)");
	cr_assert_eq(r, 0, "network namespace setup failed");
	snprintf(wout, sizeof(wout), "%s/w.out", dir);
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	write_secret(secret, "the phases' secret, 32 bytes....");
	pid = t_spawn_ready(wout, argv, "ready", 10000, NULL);
	cr_assert_eq(start_dest(&d, ns.name, ns.there, dir, NULL, secret, 0), 0,
		     "the destination did not start");
	rc = t_run(&out, &err, "%s migrate -t %d --to %s --secret-file %s --json", t_ferry_bin(),
		   pid, d.host_port, secret);
	log = t_read_file(d.log, NULL);
	cr_assert_eq(rc, 0, "ferry migrate failed (%d):\n%s\n%s\ndestination:\n%s", rc,
		     out ? out : "", err ? err : "", log ? log : "");
	done = strstr(out, "{\"event\":\"done\"");
	cr_assert(done, "no done event: %s", out);
	down = num(done, "downtime_ms");
	dump = num(done, "final_dump_ms");
	send = num(done, "final_send_ms");
	wait = num(done, "verdict_wait_ms");
	sect = num(done, "dest_final_section_ms");
	rest = num(done, "dest_restore_ms");
	cr_log_info("downtime %.1f ms: final dump %.1f (freeze %.1f), send %.1f, destination %.1f "
		    "(final section %.1f, restore %.1f)",
		    down, dump, num(done, "freeze_ms"), send, wait, sect, rest);
	cr_expect_gt(rest, 0, "no restore time from the destination");
	cr_expect_geq(sect, 0);
	cr_expect(dump + send + wait <= down + 0.01 && dump + send + wait >= down - 0.01,
		  "%.3f + %.3f + %.3f != %.3f", dump, send, wait, down);
	/* The destination's own parts fit in the time the source waited for it. */
	cr_expect_leq(rest, wait, "restore %.1f ms > verdict wait %.1f ms", rest, wait);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	kill_dest(&d);
	t_netns_down(&ns);
	free(log);
	free(out);
	free(err);
	t_rmrf(dir);
	free(dir);
}
