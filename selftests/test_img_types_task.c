// SPDX-License-Identifier: MIT
/*
 * Image types of a task's state: core (registers, signals, timers, ...), ids,
 * stats, creds, sigactions and rlimits: round trips and crit.
 * (Suite img_types; the helpers are in img_test_helpers.c.)
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "core.pb-c.h"
#include "creds.pb-c.h"
#include "sa.pb-c.h"
#include "rlimit.pb-c.h"
#include "inventory.pb-c.h"
#include "stats.pb-c.h"

#include "img_test_helpers.h"

Test(img_types, core, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	UserX86RegsEntry gp = USER_X86_REGS_ENTRY__INIT;
	UserX86CetEntry cet = USER_X86_CET_ENTRY__INIT;
	UserX86XsaveEntry xs = USER_X86_XSAVE_ENTRY__INIT;
	UserX86FpregsEntry fp = USER_X86_FPREGS_ENTRY__INIT;
	UserDescT tls[3], *tlsp[3];
	ThreadInfoX86 ti = THREAD_INFO_X86__INIT;
	ItimerEntry real = ITIMER_ENTRY__INIT, virt = ITIMER_ENTRY__INIT, prof = ITIMER_ENTRY__INIT;
	PosixTimerEntry pt = POSIX_TIMER_ENTRY__INIT, *ptp[] = { &pt };
	TaskTimersEntry timers = TASK_TIMERS_ENTRY__INIT;
	RlimitEntry rl[16], *rlp[16];
	TaskRlimitsEntry rlims = TASK_RLIMITS_ENTRY__INIT;
	uint8_t si_raw[128];
	SiginfoEntry si = SIGINFO_ENTRY__INIT, *sip[] = { &si };
	SignalQueueEntry sq = SIGNAL_QUEUE_ENTRY__INIT;
	SaEntry sa[2], *sap[2];
	TaskCoreEntry tc = TASK_CORE_ENTRY__INIT;
	TaskKobjIdsEntry ids = TASK_KOBJ_IDS_ENTRY__INIT;
	ThreadSasEntry sas = THREAD_SAS_ENTRY__INIT;
	uint32_t caps[] = { 0xffffffffu, 0x1ff }, groups[] = { 4, 24, 27 };
	CredsEntry cr = CREDS_ENTRY__INIT;
	RseqEntry rseq = RSEQ_ENTRY__INIT;
	ThreadCoreEntry th = THREAD_CORE_ENTRY__INIT;
	CoreEntry core = CORE_ENTRY__INIT;
	uint32_t st[32], xmm[64], pad[24], ymmh[64], pkru[] = { 0x55555554u };
	uint64_t opmask[8];
	char *json;
	size_t i;

	gp.r15 = 0x1015;
	gp.r14 = 0x1014;
	gp.r13 = 0x1013;
	gp.r12 = 0x1012;
	gp.bp = 0x7ffc0000f000ull;
	gp.bx = 0x1006;
	gp.r11 = 0x246;
	gp.r10 = 0x1010;
	gp.r9 = 0x1009;
	gp.r8 = 0x1008;
	gp.ax = (uint64_t)-516; /* -ERESTART_RESTARTBLOCK */
	gp.cx = 0x1002;
	gp.dx = 0x1003;
	gp.si = 0x1004;
	gp.di = 0x1005;
	gp.orig_ax = 35; /* nanosleep */
	gp.ip = 0x401136;
	gp.cs = 0x33;
	gp.flags = 0x246;
	gp.sp = 0x7ffc0000e000ull;
	gp.ss = 0x2b;
	gp.fs_base = 0x7f0000001740ull;
	gp.gs_base = 0;
	gp.ds = gp.es = gp.fs = gp.gs = 0;
	gp.has_mode = 1;
	gp.mode = USER_X86_REGS_MODE__NATIVE;

	for (i = 0; i < ARRAY_SIZE(st); i++)
		st[i] = (uint32_t)i * 3;
	for (i = 0; i < ARRAY_SIZE(xmm); i++)
		xmm[i] = 0xa0000000u + (uint32_t)i;
	for (i = 0; i < ARRAY_SIZE(pad); i++)
		pad[i] = 0;
	for (i = 0; i < ARRAY_SIZE(ymmh); i++)
		ymmh[i] = 0xb0000000u + (uint32_t)i;
	for (i = 0; i < ARRAY_SIZE(opmask); i++)
		opmask[i] = i;
	cet.cet = 1;
	cet.ssp = 0x7f0000100000ull;
	xs.xstate_bv = 0x2e7;
	xs.n_ymmh_space = ARRAY_SIZE(ymmh);
	xs.ymmh_space = ymmh;
	xs.n_opmask_reg = ARRAY_SIZE(opmask);
	xs.opmask_reg = opmask;
	xs.n_pkru = ARRAY_SIZE(pkru);
	xs.pkru = pkru;
	xs.cet = &cet; /* CRIU 4.x */
	fp.cwd = 0x37f;
	fp.swd = 0;
	fp.twd = 0;
	fp.fop = 0;
	fp.rip = 0;
	fp.rdp = 0;
	fp.mxcsr = 0x1f80;
	fp.mxcsr_mask = 0x2ffff;
	fp.n_st_space = ARRAY_SIZE(st);
	fp.st_space = st;
	fp.n_xmm_space = ARRAY_SIZE(xmm);
	fp.xmm_space = xmm;
	fp.n_padding = ARRAY_SIZE(pad);
	fp.padding = pad;
	fp.xsave = &xs;
	for (i = 0; i < ARRAY_SIZE(tls); i++) {
		user_desc_t__init(&tls[i]);
		tls[i].entry_number = 12 + (uint32_t)i;
		tlsp[i] = &tls[i];
	}
	tls[0].base_addr = 0x1000;
	tls[0].limit = 0xfffff;
	tls[0].seg_32bit = 1;
	tls[0].read_exec_only = 0;
	tls[0].limit_in_pages = 1;
	tls[0].seg_not_present = 0;
	tls[0].usable = 1;
	ti.clear_tid_addr = 0x7f0000001a10ull;
	ti.gpregs = &gp;
	ti.fpregs = &fp;
	ti.n_tls = ARRAY_SIZE(tlsp);
	ti.tls = tlsp;

	real.isec = 1;
	real.iusec = 500000;
	real.vsec = 0;
	real.vusec = 250000;
	pt.it_id = 0;
	pt.clock_id = 1;
	pt.si_signo = 14;
	pt.it_sigev_notify = 0;
	pt.sival_ptr = 0xdeadbeef;
	pt.overrun = 0;
	pt.isec = 2;
	pt.vsec = 3;
	timers.real = &real;
	timers.virt = &virt;
	timers.prof = &prof;
	timers.n_posix = ARRAY_SIZE(ptp);
	timers.posix = ptp;
	for (i = 0; i < ARRAY_SIZE(rl); i++) {
		rlimit_entry__init(&rl[i]);
		rl[i].cur = 1024 * (i + 1);
		rl[i].max = UINT64_MAX;
		rlp[i] = &rl[i];
	}
	rlims.n_rlimits = ARRAY_SIZE(rlp);
	rlims.rlimits = rlp;
	for (i = 0; i < sizeof(si_raw); i++)
		si_raw[i] = (uint8_t)i;
	si.siginfo.data = si_raw;
	si.siginfo.len = sizeof(si_raw);
	sq.n_signals = ARRAY_SIZE(sip);
	sq.signals = sip;
	for (i = 0; i < ARRAY_SIZE(sa); i++) {
		sa_entry__init(&sa[i]);
		sa[i].sigaction = 0x401200 + i;
		sa[i].flags = 0x04000000; /* SA_RESTORER */
		sa[i].restorer = 0x7f0000042520ull;
		sa[i].mask = 1ull << i;
		sap[i] = &sa[i];
	}

	tc.task_state = 1; /* TASK_ALIVE */
	tc.exit_code = 0;
	tc.personality = 0;
	tc.flags = 0x400100;
	tc.blk_sigset = 0x10000;
	tc.comm = "ferry-test";
	tc.timers = &timers;
	tc.rlimits = &rlims;
	tc.signals_s = &sq;
	tc.has_loginuid = 1;
	tc.loginuid = 1000;
	tc.has_oom_score_adj = 1;
	tc.oom_score_adj = -100;
	tc.n_sigactions = ARRAY_SIZE(sap);
	tc.sigactions = sap;
	tc.has_child_subreaper = tc.child_subreaper = 1;
	tc.has_blk_sigset_extended = 1;
	tc.blk_sigset_extended = 0;
	tc.has_stop_signo = 1; /* CRIU 4.x */
	tc.stop_signo = 19;

	ids.vm_id = 1;
	ids.files_id = 2;
	ids.fs_id = 3;
	ids.sighand_id = 4;

	sas.ss_sp = 0x7f0000200000ull;
	sas.ss_size = 8192;
	sas.ss_flags = 0;
	cr.uid = cr.euid = cr.suid = cr.fsuid = 1000;
	cr.gid = cr.egid = cr.sgid = cr.fsgid = 1001;
	cr.n_cap_inh = cr.n_cap_prm = cr.n_cap_eff = cr.n_cap_bnd = ARRAY_SIZE(caps);
	cr.cap_inh = cr.cap_prm = cr.cap_eff = cr.cap_bnd = caps;
	cr.secbits = 0;
	cr.n_groups = ARRAY_SIZE(groups);
	cr.groups = groups;
	rseq.rseq_abi_pointer = 0x7f0000001fe0ull;
	rseq.rseq_abi_size = 32;
	rseq.signature = 0x53053053;
	th.futex_rla = 0x7f0000001a20ull;
	th.futex_rla_len = 24;
	th.has_sched_nice = 1;
	th.sched_nice = -5;
	th.has_sched_policy = 1;
	th.sched_policy = 0;
	th.has_sched_prio = 1;
	th.sched_prio = 0;
	th.has_blk_sigset = 1;
	th.blk_sigset = 0x10000;
	th.sas = &sas;
	th.has_pdeath_sig = 1;
	th.pdeath_sig = 9;
	th.creds = &cr;
	th.has_seccomp_mode = 1;
	th.seccomp_mode = SECCOMP_MODE__disabled;
	th.comm = "ferry-test";
	th.rseq_entry = &rseq;
	th.has_cg_set = 1; /* CRIU 4.x */
	th.cg_set = 5;

	core.mtype = CORE_ENTRY__MARCH__X86_64;
	core.thread_info = &ti;
	core.tc = &tc;
	core.ids = &ids;
	core.thread_core = &th;

	it_roundtrip(IMG_CORE, "core-4242.img", IT_ONE(core), 1);
	json = it_crit_decode(IMG_CORE, "core-4242.img");
	it_expect_json(json, "\"mtype\": \"X86_64\"");
	it_expect_json(json, "\"ip\": 4198710");
	it_expect_json(json, "\"orig_ax\": 35");
	it_expect_json(json, "\"ax\": 18446744073709551100");
	it_expect_json(json, "\"mode\": \"NATIVE\"");
	it_expect_json(json, "\"mxcsr\": 8064");
	it_expect_json(json, "\"xstate_bv\": 743");
	cr_assert_eq(it_count_str(json, "\"entry_number\": "), 3);
	it_expect_json(json, "\"comm\": \"ferry-test\"");
	it_expect_json(json, "\"oom_score_adj\": -100");
	it_expect_json(json, "\"child_subreaper\": true");
	cr_assert_eq(it_count_str(json, "\"cur\": "), 16);
	it_expect_json(json, "\"sival_ptr\": 3735928559");
	it_expect_json(json, "\"sched_nice\": -5");
	it_expect_json(json, "\"groups\": [4, 24, 27]");
	it_expect_json(json, "\"signature\": 1392848979");
	it_expect_json(json, "\"sighand_id\": 4");
	cr_assert_eq(it_count_str(json, "\"restorer\": "), 2);
	free(json);
}

Test(img_types, ids, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	TaskKobjIdsEntry ids = TASK_KOBJ_IDS_ENTRY__INIT;
	char *json;

	ids.vm_id = 21;
	ids.files_id = 22;
	ids.fs_id = 23;
	ids.sighand_id = 24;
	ids.has_pid_ns_id = ids.has_net_ns_id = ids.has_ipc_ns_id = ids.has_uts_ns_id = 1;
	ids.has_mnt_ns_id = ids.has_user_ns_id = ids.has_cgroup_ns_id = ids.has_time_ns_id = 1;
	ids.pid_ns_id = 31;
	ids.net_ns_id = 32;
	ids.ipc_ns_id = 33;
	ids.uts_ns_id = 34;
	ids.mnt_ns_id = 35;
	ids.user_ns_id = 36;
	ids.cgroup_ns_id = 37;
	ids.time_ns_id = 38;

	it_roundtrip(IMG_IDS, "ids-4242.img", IT_ONE(ids), 1);
	json = it_crit_decode(IMG_IDS, "ids-4242.img");
	it_expect_json(json, "\"files_id\": 22");
	it_expect_json(json, "\"sighand_id\": 24");
	it_expect_json(json, "\"mnt_ns_id\": 35");
	it_expect_json(json, "\"time_ns_id\": 38");
	free(json);
}

Test(img_types, stats, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	DumpStatsEntry ds = DUMP_STATS_ENTRY__INIT;
	RestoreStatsEntry rs = RESTORE_STATS_ENTRY__INIT;
	StatsEntry se = STATS_ENTRY__INIT;
	char *json;

	ds.freezing_time = 1500;
	ds.frozen_time = 25000;
	ds.memdump_time = 12000;
	ds.memwrite_time = 9000;
	ds.pages_scanned = 4096;
	ds.pages_skipped_parent = 100;
	ds.pages_written = 1234;
	ds.has_irmap_resolve = 1;
	ds.irmap_resolve = 0;
	ds.pages_lazy = 0;
	ds.has_page_pipes = 1;
	ds.page_pipes = 3;
	ds.has_page_pipe_bufs = 1;
	ds.page_pipe_bufs = 17;
	se.dump = &ds;

	it_roundtrip(IMG_STATS, "stats-dump", IT_ONE(se), 1);
	json = it_crit_decode(IMG_STATS, "stats-dump");
	it_expect_json(json, "\"frozen_time\": 25000");
	it_expect_json(json, "\"pages_written\": 1234");
	it_expect_json(json, "\"page_pipe_bufs\": 17");
	free(json);

	rs.pages_compared = 5;
	rs.pages_skipped_cow = 6;
	rs.forking_time = 700;
	rs.restore_time = 8000;
	rs.has_pages_restored = 1;
	rs.pages_restored = 4321;
	se.dump = NULL;
	se.restore = &rs;
	it_roundtrip(IMG_STATS, "stats-restore", IT_ONE(se), 1);
	json = it_crit_decode(IMG_STATS, "stats-restore");
	it_expect_json(json, "\"restore_time\": 8000");
	it_expect_json(json, "\"pages_restored\": 4321");
	free(json);
}

Test(img_types, creds, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	uint32_t caps[] = { 0, 0 }, bnd[] = { 0xffffffffu, 0x1ff }, groups[] = { 4, 24, 27, 1000 };
	uint8_t aa[] = { 'f', 'e', 'r', 'r', 'y' };
	CredsEntry cr = CREDS_ENTRY__INIT;
	char *json;

	cr.uid = 1000;
	cr.gid = 1000;
	cr.euid = 1001;
	cr.egid = 1002;
	cr.suid = 1003;
	cr.sgid = 1004;
	cr.fsuid = 1005;
	cr.fsgid = 1006;
	cr.n_cap_inh = cr.n_cap_prm = cr.n_cap_eff = ARRAY_SIZE(caps);
	cr.cap_inh = cr.cap_prm = cr.cap_eff = caps;
	cr.n_cap_bnd = ARRAY_SIZE(bnd);
	cr.cap_bnd = bnd;
	cr.secbits = 0x2f;
	cr.n_groups = ARRAY_SIZE(groups);
	cr.groups = groups;
	cr.lsm_profile = "unconfined";
	cr.has_apparmor_data = 1;
	cr.apparmor_data.data = aa;
	cr.apparmor_data.len = sizeof(aa);
	cr.has_no_new_privs = 1; /* CRIU 4.x */
	cr.no_new_privs = 1;

	it_roundtrip(IMG_CREDS, "creds-4242.img", IT_ONE(cr), 1);
	json = it_crit_decode(IMG_CREDS, "creds-4242.img");
	it_expect_json(json, "\"euid\": 1001");
	it_expect_json(json, "\"fsgid\": 1006");
	it_expect_json(json, "\"cap_bnd\": [4294967295, 511]");
	it_expect_json(json, "\"secbits\": 47");
	it_expect_json(json, "\"groups\": [4, 24, 27, 1000]");
	it_expect_json(json, "\"lsm_profile\": \"unconfined\"");
	free(json);
}

Test(img_types, sigact, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	SaEntry sa[64];
	struct it_ent e[64];
	char *json;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sa); i++) {
		sa_entry__init(&sa[i]);
		sa[i].sigaction = i % 2 ? 0x401200 + i : 0; /* SIG_DFL */
		sa[i].flags = 0x14000000;		    /* SA_RESTORER | SA_RESTART */
		sa[i].restorer = 0x7f0000042520ull;
		sa[i].mask = 1ull << (i % 64);
		sa[i].has_compat_sigaction = 1;
		sa[i].compat_sigaction = 0;
		sa[i].has_mask_extended = i == 63;
		sa[i].mask_extended = i == 63 ? 5 : 0;
		e[i] = (struct it_ent){ .msg = &sa[i].base };
	}

	it_roundtrip(IMG_SIGACT, "sigacts-4242.img", e, ARRAY_SIZE(e));
	json = it_crit_decode(IMG_SIGACT, "sigacts-4242.img");
	cr_assert_eq(it_count_str(json, "\"sigaction\": "), 64);
	it_expect_json(json, "\"sigaction\": 4198913");
	it_expect_json(json, "\"restorer\": 139637976999200");
	it_expect_json(json, "\"mask\": 9223372036854775808");
	it_expect_json(json, "\"mask_extended\": 5");
	free(json);
}

Test(img_types, rlimit, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	RlimitEntry rl[16];
	struct it_ent e[16];
	char *json;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rl); i++) {
		rlimit_entry__init(&rl[i]);
		rl[i].cur = i == 7 ? 1024 : UINT64_MAX; /* RLIMIT_NOFILE */
		rl[i].max = i == 7 ? 524288 : UINT64_MAX;
		e[i] = (struct it_ent){ .msg = &rl[i].base };
	}

	it_roundtrip(IMG_RLIMIT, "rlimit-4242.img", e, ARRAY_SIZE(e));
	json = it_crit_decode(IMG_RLIMIT, "rlimit-4242.img");
	cr_assert_eq(it_count_str(json, "\"cur\": "), 16);
	it_expect_json(json, "\"cur\": 1024");
	it_expect_json(json, "\"max\": 524288");
	cr_assert_eq(it_count_str(json, "\"max\": 18446744073709551615"), 15);
	free(json);
}
