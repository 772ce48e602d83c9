// SPDX-License-Identifier: MIT
/*
 * `ferry migrate -t PID --to HOST:PORT` (migrate.h): connect and say hello,
 * pre-copy rounds until the predicted downtime is under the limit, then the
 * final section from a frozen dump, held until the destination's verdict.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "migrate: "
#include "dump.h"
#include "log.h"
#include "migrate_priv.h"
#include "migrate_throttle.h"
#include "tracker.h"
#include "util.h"

/* How long the source waits for the destination's answers (hello, verdict). */
#define MIGRATE_HELLO_TIMEOUT_MS 10000
#define MIGRATE_VERDICT_TIMEOUT_MS 120000

static int connect_to(const char *to, int *out)
{
	char host[256];
	const char *colon = strrchr(to, ':');
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *ai;
	size_t hl;
	int fd = -1, r, err = -ECONNREFUSED;

	if (!colon || colon == to || !colon[1]) {
		pr_err("--to %s: expected HOST:PORT", to);
		return -EINVAL;
	}
	hl = (size_t)(colon - to);
	if (to[0] == '[' && hl >= 2 && to[hl - 1] == ']') {
		to++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		pr_err("--to: host name too long");
		return -EINVAL;
	}
	memcpy(host, to, hl);
	host[hl] = 0;
	r = getaddrinfo(host, colon + 1, &hints, &res);
	if (r) {
		pr_err("--to %s: %s", host, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		err = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		pr_err("cannot connect to %s: %s", to, strerror(-err));
		return err;
	}
	*out = fd;
	return 0;
}

/* ServerHello in, MigrationHello out (with the proof), Ready in. */
static int hello(struct msend *s)
{
	struct mig_pdu p;
	uint8_t *secret = NULL, proof[PS_PROOF_SIZE];
	size_t slen = 0;
	uint32_t version;
	int err;

	s->c.timeout_ms = MIGRATE_HELLO_TIMEOUT_MS;
	err = mig_recv(&s->c, 1u << MIG_SRV_HELLO | 1u << MIG_ERROR, &p);
	if (err)
		return err;
	if (p.type == MIG_ERROR)
		goto refused;
	if (p.ps.server_hello.page_size != MIG_PAGE_SIZE) {
		pr_err("%s: the destination's pages are %u bytes, ours %u", s->c.peer,
		       p.ps.server_hello.page_size, MIG_PAGE_SIZE);
		return -EPROTO;
	}
	if (p.ps.server_hello.auth_required && !s->o->secret_file) {
		pr_err("%s: the destination requires a shared secret: give --secret-file",
		       s->c.peer);
		return -EACCES;
	}
	if (s->o->secret_file) {
		err = ps_secret_load(s->o->secret_file, &secret, &slen);
		if (!err)
			err = mig_proof(secret, slen, p.ps.server_hello.nonce, proof);
		ps_secret_free(secret, slen);
		if (err)
			return err;
	}
	/* Speak the destination's version if it is older (then without XBZRLE). */
	version = p.ps.server_hello.version < MIG_WIRE_VERSION ? p.ps.server_hello.version
							       : MIG_WIRE_VERSION;
	if (s->o->xbzrle_cache && version >= 2)
		err = mig_enc_hello_xbzrle(&s->c.enc, version, s->o->secret_file ? proof : NULL);
	else
		err = mig_enc_hello(&s->c.enc, version, s->o->secret_file ? proof : NULL);
	if (!err)
		err = mig_send(&s->c, &s->c.enc);
	if (!err)
		err = mig_recv(&s->c, 1u << MIG_READY | 1u << MIG_ERROR, &p);
	if (err)
		return err;
	if (p.type == MIG_READY) {
		if (s->o->xbzrle_cache && !p.xbzrle) {
			pr_info("%s: the destination (stream version %u) does not take XBZRLE "
				"deltas: pages go whole",
				s->c.peer, version);
			return 0;
		}
		if (s->o->xbzrle_cache) {
			err = mcache_init(&s->cache, s->o->xbzrle_cache);
			if (err) {
				pr_err("--xbzrle: cannot allocate a cache of %llu bytes",
				       (unsigned long long)s->o->xbzrle_cache);
				return err;
			}
			s->xbzrle = 1;
		}
		return 0;
	}
refused : {
	char msg[256];

	pr_err("%s: the destination refused the migration (code %u): %s", s->c.peer,
	       p.ps.error.code, ps_printable(p.ps.error.msg, p.ps.error.msg_len, msg, sizeof(msg)));
	return -ECONNREFUSED;
}
}

static void report_round(const struct msend *s, unsigned round, uint64_t round_us,
			 uint64_t frozen_us, double dirty_rate, double bw, double predicted_ms,
			 int throttle)
{
	const struct msend_stats *st = &s->st;

	if (s->o->json) {
		printf("{\"event\":\"round\",\"round\":%u,\"pages_full\":%llu,\"pages_zero\":%llu,"
		       "\"pages_xbzrle\":%llu,\"xbzrle_bytes\":%llu,"
		       "\"bytes\":%llu,\"round_ms\":%.3f,\"send_ms\":%.3f,\"frozen_ms\":%.3f,"
		       "\"dirty_pages_per_s\":%.0f,\"bandwidth_bytes_per_s\":%.0f,"
		       "\"predicted_downtime_ms\":%.3f,\"throttle_pct\":%d}\n",
		       round, (unsigned long long)st->full, (unsigned long long)st->zero,
		       (unsigned long long)st->xbzrle, (unsigned long long)st->xbzrle_bytes,
		       (unsigned long long)st->bytes, round_us / 1e3, st->send_us / 1e3,
		       frozen_us / 1e3, dirty_rate, bw, predicted_ms, throttle);
	} else if (throttle) {
		printf("round %u: %llu pages, %.1f MiB in %.1f ms, dirty rate %.0f pages/s, "
		       "predicted downtime %.1f ms, throttled %d%%\n",
		       round, (unsigned long long)(st->full + st->zero + st->xbzrle),
		       st->bytes / 1048576.0, round_us / 1e3, dirty_rate, predicted_ms, throttle);
	} else if (s->xbzrle) {
		printf("round %u: %llu pages (%llu full, %llu zero, %llu xbzrle in %.1f KiB), "
		       "%.1f MiB in %.1f ms (sent in %.1f ms, %.1f MiB/s), frozen %.1f ms, dirty "
		       "rate %.0f pages/s, predicted downtime %.1f ms\n",
		       round, (unsigned long long)(st->full + st->zero + st->xbzrle),
		       (unsigned long long)st->full, (unsigned long long)st->zero,
		       (unsigned long long)st->xbzrle, st->xbzrle_bytes / 1024.0,
		       st->bytes / 1048576.0, round_us / 1e3, st->send_us / 1e3, bw / 1048576.0,
		       frozen_us / 1e3, dirty_rate, predicted_ms);
	} else {
		printf("round %u: %llu pages (%llu full, %llu zero), %.1f MiB in %.1f ms "
		       "(sent in %.1f ms, %.1f MiB/s), frozen %.1f ms, dirty rate %.0f pages/s, "
		       "predicted downtime %.1f ms\n",
		       round, (unsigned long long)(st->full + st->zero),
		       (unsigned long long)st->full, (unsigned long long)st->zero,
		       st->bytes / 1048576.0, round_us / 1e3, st->send_us / 1e3, bw / 1048576.0,
		       frozen_us / 1e3, dirty_rate, predicted_ms);
	}
	fflush(stdout);
}

/*
 * --auto-converge: from round 3 on, when the predicted downtime is over the
 * limit and the dirty rate did not fall by a tenth (or from round 4 on,
 * whatever the rate), throttle the tree: 20%, then 10 points more a round.
 */
static void auto_converge(struct mrounds *r, double rate, double prev_rate, double predicted)
{
	const struct migrate_opts *o = r->s->o;
	int pct;

	if (!o->auto_converge || r->round < 3 || predicted <= (double)o->downtime_ms)
		return;
	if (rate < 0.9 * prev_rate && r->round < 4)
		return;
	if (!r->thr && mthrottle_start(r->s->pids, r->s->nr_pids, &r->thr))
		return;
	pct = mthrottle_pct(r->thr);
	pct = pct ? pct + MTHROTTLE_STEP : MTHROTTLE_FIRST;
	mthrottle_set(r->thr, pct);
	pr_info("auto-converge: round %u, dirty rate %.0f pages/s (before %.0f), predicted "
		"downtime %.1f ms: the tree is throttled to %d%% of its CPU time",
		r->round, rate, prev_rate, predicted, mthrottle_pct(r->thr));
}

/*
 * The final section, sent while the tree is frozen (dump_opts.hold): the
 * dump's images with its pagemaps, the pages it copied, the end mark; then
 * the verdict. Returns 0 only if the destination says the tree runs.
 */
static int send_final(void *arg, const char *dir)
{
	struct mrounds *r = arg;
	struct msend *s = r->s;
	int err;

	r->t_hold = mono_us();
	err = msend_section(s, MIG_SEC_FINAL, r->round);
	if (!err)
		err = msend_dir_images(s, dir, 1);
	if (!err)
		err = msend_dir_pages(s, dir, 0);
	if (!err)
		err = msend_end(s, r->round);
	r->final_full = s->st.full;
	r->final_xbzrle = s->st.xbzrle;
	r->final_zero = s->st.zero;
	r->final_bytes = s->st.bytes;
	r->t_sent = mono_us();
	return err ? err : mrounds_wait_verdict(r);
}

int mrounds_wait_verdict(struct mrounds *r)
{
	struct msend *s = r->s;
	struct mig_pdu p;
	char msg[PS_MAX_TEXT + 1];
	int err;

	s->c.timeout_ms = MIGRATE_VERDICT_TIMEOUT_MS;
	err = mig_recv(&s->c, 1u << MIG_VERDICT | 1u << MIG_ERROR, &p);
	r->verdict_us = mono_us();
	if (err) {
		pr_err("%s: no verdict from the destination: the source is kept", s->c.peer);
		return err;
	}
	if (p.type == MIG_ERROR) {
		pr_err("%s: the destination failed (code %u): %s", s->c.peer, p.ps.error.code,
		       ps_printable(p.ps.error.msg, p.ps.error.msg_len, msg, sizeof(msg)));
		return -EREMOTEIO;
	}
	ps_printable(p.verdict.msg, p.verdict.msg_len, msg, sizeof(msg));
	if (!p.verdict.ok) {
		pr_err("%s: the destination could not restore the tree: %s", s->c.peer, msg);
		return -EREMOTEIO;
	}
	r->dest_root = p.verdict.root;
	pr_info("%s: the tree runs on the destination (root pid %d there): %s", s->c.peer,
		p.verdict.root, msg);
	if (p.verdict.has_times) {
		r->dest_times = 1;
		r->dest_section_us = p.verdict.section_us;
		r->dest_restore_us = p.verdict.restore_us;
		pr_info("%s: the destination took %llu us for the final section, %llu us to restore",
			s->c.peer, (unsigned long long)p.verdict.section_us,
			(unsigned long long)p.verdict.restore_us);
	}
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

/* Stop the tracking the rounds armed on every process of the tree. */
static void release_source(struct msend *s)
{
	for (size_t i = 0; i < s->nr_pids; i++) {
		int err = tracker_stop_pid(s->pids[i], 0);

		if (err && err != -ENOENT)
			pr_err("pid %d: cannot stop its tracking: %s", s->pids[i], strerror(-err));
	}
}

/* Pre-copy rounds; returns 0 when it is time for the final section. */
static int precopy(struct mrounds *r, const char *work)
{
	struct msend *s = r->s;
	const struct migrate_opts *o = s->o;
	char prev[PATH_MAX] = "";
	uint64_t t_prev_scan = 0;
	double prev_rate = 0;
	int err = 0;

	for (r->round = 1; r->round <= o->max_rounds; r->round++) {
		struct dump_opts d = { .pid = o->pid, .track = o->track };
		struct dump_result res;
		uint64_t t0 = mono_us(), elapsed;
		double bw, rate = 0, predicted;

		err = msend_interrupted();
		if (err)
			break;
		snprintf(r->dir, sizeof(r->dir), "%s/round-%u", work, r->round);
		d.dir = r->dir;
		d.prev_dir = prev[0] ? prev : NULL;
		/* No SIGSTOP of the throttle may reach a process the dump seizes. */
		if (r->thr)
			mthrottle_pause(r->thr);
		err = predump_tree(&d, &res);
		if (r->thr)
			mthrottle_resume(r->thr);
		if (err) {
			pr_err("pid %d: pre-copy round %u failed: %s", o->pid, r->round,
			       strerror(-err));
			break;
		}
		/* The tree as this round saw it: whose tracking a failure must stop. */
		err = msend_dir_pids(s, r->dir);
		if (err)
			break;
		if (r->round == 1) {
			/* The setup section: the tree's description and its memory areas. */
			err = msend_section(s, MIG_SEC_SETUP, 0);
			if (!err)
				err = msend_dir_images(s, r->dir, 0);
			if (!err)
				err = msend_tree_areas(s);
			if (!err)
				err = msend_end(s, 0);
			if (err)
				break;
		}
		err = msend_section(s, MIG_SEC_ITERATION, r->round);
		if (!err)
			err = msend_dir_pages(s, r->dir, 1);
		if (!err)
			err = msend_end(s, r->round);
		if (err)
			break;
		elapsed = mono_us() - t0;
		bw = s->st.send_us ? s->st.bytes * 1e6 / (double)s->st.send_us : 0;
		/* The pages written since the previous round's scan, per second. */
		if (r->round > 1 && t0 > t_prev_scan)
			rate = (double)res.written_pages * 1e6 / (double)(t0 - t_prev_scan);
		t_prev_scan = t0;
		/* What this round sent is what the previous one let be written: the final set. */
		predicted = bw > 0 ? s->st.bytes * 1e3 / bw : 0;
		predicted += res.frozen_us / 1e3;
		report_round(s, r->round, elapsed, res.frozen_us, rate, bw, predicted,
			     r->thr ? mthrottle_pct(r->thr) : 0);
		snprintf(prev, sizeof(prev), "%s", r->dir);
		if (r->round < o->max_rounds)
			auto_converge(r, rate, prev_rate, predicted);
		prev_rate = rate;
		if (r->round > 1 && predicted <= (double)o->downtime_ms)
			break;
		if (o->postcopy == MIGRATE_POSTCOPY_ALWAYS) {
			r->postcopy = 1;
			break;
		}
		/* auto: the rate no longer falls (from round 3: round 2's is the first) */
		if (o->postcopy == MIGRATE_POSTCOPY_AUTO && r->round > 2 && rate >= r->prev_rate) {
			pr_info("round %u: the dirty rate did not fall (%.0f, then %.0f pages/s): "
				"switching to post-copy",
				r->round, r->prev_rate, rate);
			r->postcopy = 1;
			break;
		}
		r->prev_rate = rate;
		if (r->round == o->max_rounds) {
			r->postcopy = o->postcopy == MIGRATE_POSTCOPY_AUTO;
			if (r->postcopy)
				pr_info("no convergence within %u rounds: switching to post-copy",
					r->round);
			break;
		}
	}
	if (r->round > o->max_rounds)
		r->round = o->max_rounds;
	return err;
}

int migrate_send(const struct migrate_opts *o)
{
	struct msend s = { .o = o };
	struct mrounds r = { .s = &s, .pager_fd = -1 };
	char work[PATH_MAX - 64], final_dir[PATH_MAX];
	uint64_t t_start = mono_us();
	int fd = -1, err, made_work = 0;
	sigset_t block, old;

	/*
	 * SIGINT, SIGTERM and SIGHUP wait until a point where the tree can be
	 * released: between PDUs and rounds (and inside the dumps, see
	 * dump_interrupted). Once the final section is sent the verdict is waited
	 * for: the destination may already run the tree.
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	mig_conn_init(&s.c, -1, o->to);
	err = connect_to(o->to, &fd);
	if (err)
		goto out;
	s.c.fd = fd;
	if (o->wire_log) {
		s.c.log_fd = open(o->wire_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (s.c.log_fd < 0) {
			err = -errno;
			pr_err("--wire-log %s: %s", o->wire_log, strerror(-err));
			goto out;
		}
	}
	err = hello(&s);
	if (err)
		goto out;
	if (o->work_dir) {
		snprintf(work, sizeof(work), "%s", o->work_dir);
		err = mkdir_p(work);
	} else {
		snprintf(work, sizeof(work), "/tmp/ferry-migrate-XXXXXX");
		err = mkdtemp(work) ? 0 : -errno;
	}
	if (err) {
		pr_err("%s: cannot make the work directory: %s", work, strerror(-err));
		goto out;
	}
	made_work = 1;

	err = precopy(&r, work);
	if (err)
		goto out_release;
	{
		struct dump_opts d = { .pid = o->pid, .track = o->track };
		struct dump_result res;

		snprintf(final_dir, sizeof(final_dir), "%s/final", work);
		d.dir = final_dir;
		d.prev_dir = r.dir;
		d.hold = r.postcopy ? send_postcopy : send_final;
		d.hold_arg = &r;
		r.round++;
		if (r.thr)
			mthrottle_pause(r.thr);
		/* Stops the tracking; kills the tree if send_final says so, else releases it. */
		err = dump_tree(&d, &res);
		mthrottle_stop(r.thr);
		r.thr = NULL;
		if (err && r.postcopy)
			postcopy_stop(&r);
		if (err) {
			pr_err("pid %d: the final section failed: %s; the source was released and "
			       "keeps running",
			       o->pid, strerror(-err));
			goto out;
		}
		pr_info("final dump: freezing %llu us, memory %llu us (writing %llu us), frozen "
			"%llu us before its images were sent",
			(unsigned long long)res.freezing_us, (unsigned long long)res.memdump_us,
			(unsigned long long)res.memwrite_us, (unsigned long long)res.frozen_us);
		if (o->json)
			printf("{\"event\":\"done\",\"rounds\":%u,\"root_pid\":%d,"
			       "\"downtime_ms\":%.3f,\"final_dump_ms\":%.3f,\"final_send_ms\":%.3f,"
			       "\"verdict_wait_ms\":%.3f,\"freeze_ms\":%.3f,\"final_memdump_ms\":%.3f,"
			       "\"dest_final_section_ms\":%.3f,\"dest_restore_ms\":%.3f,"
			       "\"postcopy\":%s,\"total_ms\":%.3f,\"final_pages_full\":%llu,"
			       "\"final_pages_zero\":%llu,\"final_pages_xbzrle\":%llu,\"bytes\":%llu}\n",
			       r.round - 1, r.dest_root, (r.verdict_us - res.freeze_start_us) / 1e3,
			       (r.t_hold - res.freeze_start_us) / 1e3, (r.t_sent - r.t_hold) / 1e3,
			       (r.verdict_us - r.t_sent) / 1e3, res.freezing_us / 1e3,
			       res.memdump_us / 1e3, r.dest_times ? r.dest_section_us / 1e3 : -1.0,
			       r.dest_times ? r.dest_restore_us / 1e3 : -1.0,
			       r.postcopy ? "true" : "false", (mono_us() - t_start) / 1e3,
			       (unsigned long long)r.final_full, (unsigned long long)r.final_zero,
			       (unsigned long long)r.final_xbzrle, (unsigned long long)s.c.sent);
		else if (r.postcopy)
			printf("switched to post-copy: pid %d runs on the destination as pid %d "
			       "after %u pre-copy round(s); downtime %.1f ms (frozen to verdict: "
			       "dump %.1f, send %.1f, destination %.1f); serving its last pages "
			       "from %s\n",
			       o->pid, r.dest_root, r.round - 1,
			       (r.verdict_us - res.freeze_start_us) / 1e3,
			       (r.t_hold - res.freeze_start_us) / 1e3, (r.t_sent - r.t_hold) / 1e3,
			       (r.verdict_us - r.t_sent) / 1e3, final_dir);
		else
			printf("migrated: pid %d runs on the destination as pid %d; %u pre-copy "
			       "round(s), final %llu pages (%llu zero), downtime %.1f ms (frozen to "
			       "verdict: dump %.1f, send %.1f, destination %.1f), total %.1f ms, "
			       "%.1f MiB sent\n",
			       o->pid, r.dest_root, r.round - 1,
			       (unsigned long long)(r.final_full + r.final_zero + r.final_xbzrle),
			       (unsigned long long)r.final_zero,
			       (r.verdict_us - res.freeze_start_us) / 1e3,
			       (r.t_hold - res.freeze_start_us) / 1e3, (r.t_sent - r.t_hold) / 1e3,
			       (r.verdict_us - r.t_sent) / 1e3, (mono_us() - t_start) / 1e3,
			       s.c.sent / 1048576.0);
		fflush(stdout);
		if (r.postcopy) {
			/* The tree is gone: its last pages live in final_dir until all are in. */
			err = postcopy_finish(&r);
			if (!err && o->json)
				printf("{\"event\":\"pages_in\",\"pages_left\":%llu,"
				       "\"pages_served\":%llu,\"pages_served_for_faults\":%llu,"
				       "\"all_in_ms\":%.3f,\"total_ms\":%.3f}\n",
				       (unsigned long long)r.pc_left,
				       (unsigned long long)r.pc_served,
				       (unsigned long long)r.pc_fault,
				       (r.t_pages_in - r.verdict_us) / 1e3,
				       (mono_us() - t_start) / 1e3);
			else if (!err)
				printf("migrated: every page is in on the destination %.1f ms after the "
				       "verdict: %llu pages only the source held, %llu served after the "
				       "switch (%llu for faults); total %.1f ms, %.1f MiB sent on the "
				       "stream\n",
				       (r.t_pages_in - r.verdict_us) / 1e3,
				       (unsigned long long)r.pc_left,
				       (unsigned long long)r.pc_served,
				       (unsigned long long)r.pc_fault, (mono_us() - t_start) / 1e3,
				       s.c.sent / 1048576.0);
			fflush(stdout);
		}
	}
	goto out;

out_release:
	mthrottle_stop(r.thr);
	r.thr = NULL;
	release_source(&s);
	pr_err("pid %d: migration failed: %s; the source was released and keeps running", o->pid,
	       strerror(-err));
out:
	if (s.c.log_fd >= 0)
		close(s.c.log_fd);
	mig_conn_free(&s.c);
	if (made_work && !o->work_dir)
		nftw(work, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	mthrottle_stop(r.thr);
	if (s.xbzrle)
		pr_info("xbzrle cache: %llu hits, %llu misses, %llu evictions",
			(unsigned long long)s.cache.hits, (unsigned long long)s.cache.misses,
			(unsigned long long)s.cache.evictions);
	mcache_free(&s.cache);
	free(s.areas);
	free(s.pids);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return err;
}
