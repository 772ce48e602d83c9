// SPDX-License-Identifier: MIT
/*
 * core-TID.img: registers, FPU, TLS, signals, creds, limits (see dump_core.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/elf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <unistd.h>
#include <linux/membarrier.h>
#include <sched.h>

#define LOG_PREFIX "core: "
#include "core.pb-c.h"
#include "compat.h"
#include "core_abi.h"
#include "dump_core.h"
#include "dump_timers.h"
#include "img.h"
#include "log.h"
#include "proc_parse.h"
#include "rsys.h"
#include "x86_fpu.h"

#define TASK_ALIVE 1
#define TASK_STOPPED 3

/* Where the remote calls leave their answers, in the scratch page. */
#define SCR_SIGACTION 0
#define SCR_SIGALTSTACK 64
#define SCR_TID_ADDR 128
#define SCR_INT 136
#define SCR_ITIMER 192 /* 3 x struct itimerval */
#define SCR_TIMER 320  /* DUMP_TIMERS_SCRATCH bytes */
#define SCRATCH_SIZE 4096

struct scratch {
	pid_t pid;
	uint64_t addr;
};

void dump_core_fixup_restart(struct user_regs_struct *regs)
{
	long was = (long)regs->rax;

	/* The restart block stays in the old kernel: restart_syscall gives -EINTR there. */
	rsys_fixup_restart(regs);
	/*
	 * But poll() without a timeout (GNU tail -f waits so, and takes EINTR for
	 * an error) restarts as the same call, arguments untouched in their registers.
	 */
	if ((long)regs->orig_rax == __NR_poll && was == -ERESTART_RESTARTBLOCK &&
	    (int)regs->rdx < 0)
		regs->rax = regs->orig_rax;
}

static int scratch_read(const struct scratch *s, uint64_t off, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(s->addr + off), len };

	if (process_vm_readv(s->pid, &l, 1, &r, 1, 0) != (ssize_t)len) {
		int err = errno ? -errno : -EIO;

		pr_perror("pid %d: cannot read the scratch page at %#lx", s->pid,
			  (unsigned long)(s->addr + off));
		return err;
	}
	return 0;
}

/* Run a remote syscall expected to succeed; a failing call is an error with its name. */
static int rcall(struct rsys *r, const char *what, long *ret, long nr, uint64_t a0, uint64_t a1,
		 uint64_t a2, uint64_t a3)
{
	long v;
	int err = rsys_call(r, &v, nr, a0, a1, a2, a3, 0, 0);

	if (err)
		return err;
	if (v < 0 && v > -4096) {
		pr_err("thread %d: %s failed in the target: %s", r->tid, what, strerror((int)-v));
		return (int)v;
	}
	if (ret)
		*ret = v;
	return 0;
}

static void *xcalloc(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

/* ---- signals --------------------------------------------------------------- */

struct sigqueue {
	SignalQueueEntry q;
	SiginfoEntry *items;
	SiginfoEntry **ptrs;
	uint8_t *raw;
};

static int peek_siginfo(pid_t tid, int shared, struct sigqueue *sq)
{
	struct __ptrace_peeksiginfo_args a = { .off = 0,
					       .flags = shared ? PTRACE_PEEKSIGINFO_SHARED : 0,
					       .nr = 32 };
	size_t n = 0, cap = 0;
	int err = 0;

	signal_queue_entry__init(&sq->q);
	for (;;) {
		uint8_t *nraw;
		long got;

		if (n + a.nr > cap) {
			cap = cap ? cap * 2 : 32;
			nraw = realloc(sq->raw, cap * sizeof(siginfo_t));
			if (!nraw)
				return -ENOMEM;
			sq->raw = nraw;
		}
		a.off = n;
		got = ptrace(PTRACE_PEEKSIGINFO, tid, &a, sq->raw + n * sizeof(siginfo_t));
		if (got < 0) {
			err = -errno;
			pr_perror("thread %d: cannot read its pending signals", tid);
			return err;
		}
		if (!got)
			break;
		n += (size_t)got;
	}
	sq->items = xcalloc(n, sizeof(*sq->items));
	sq->ptrs = xcalloc(n, sizeof(*sq->ptrs));
	if (!sq->items || !sq->ptrs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		siginfo_entry__init(&sq->items[i]);
		sq->items[i].siginfo.len = sizeof(siginfo_t);
		sq->items[i].siginfo.data = sq->raw + i * sizeof(siginfo_t);
		sq->ptrs[i] = &sq->items[i];
	}
	sq->q.n_signals = n;
	sq->q.signals = sq->ptrs;
	return 0;
}

static void sigqueue_free(struct sigqueue *sq)
{
	free(sq->items);
	free(sq->ptrs);
	free(sq->raw);
}

/* ---- threads --------------------------------------------------------------- */

struct thread_state {
	CoreEntry core;
	ThreadInfoX86 ti;
	UserX86RegsEntry gp;
	struct fpu_image fpu;
	UserDescT tls[GDT_ENTRY_TLS_ENTRIES];
	UserDescT *tls_ptrs[GDT_ENTRY_TLS_ENTRIES];
	ThreadCoreEntry tcore;
	ThreadSasEntry sas;
	CredsEntry creds;
	uint32_t caps[5][2];
	struct proc_status status;
	RseqEntry rseq;
	struct sigqueue sigp;
	char comm[16];
};

static void regs_to_image(const struct user_regs_struct *r, UserX86RegsEntry *g)
{
	user_x86_regs_entry__init(g);
	g->r15 = r->r15, g->r14 = r->r14, g->r13 = r->r13, g->r12 = r->r12;
	g->bp = r->rbp, g->bx = r->rbx, g->r11 = r->r11, g->r10 = r->r10;
	g->r9 = r->r9, g->r8 = r->r8, g->ax = r->rax, g->cx = r->rcx;
	g->dx = r->rdx, g->si = r->rsi, g->di = r->rdi, g->orig_ax = r->orig_rax;
	g->ip = r->rip, g->cs = r->cs, g->flags = r->eflags, g->sp = r->rsp;
	g->ss = r->ss, g->fs_base = r->fs_base, g->gs_base = r->gs_base;
	g->ds = r->ds, g->es = r->es, g->fs = r->fs, g->gs = r->gs;
	g->has_mode = 1;
	g->mode = USER_X86_REGS_MODE__NATIVE;
}

static int dump_fpu(pid_t tid, struct fpu_image *fpu)
{
	uint8_t buf[FPU_XSAVE_MAX] __attribute__((aligned(64)));
	struct iovec iov = { buf, sizeof(buf) };
	int err;

	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov)) {
		/* No XSAVE: the FXSAVE area alone. */
		iov.iov_len = 512;
		if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRFPREG, &iov)) {
			err = -errno;
			pr_perror("thread %d: cannot read FPU registers", tid);
			return err;
		}
	}
	return fpu_to_image(buf, iov.iov_len, fpu);
}

static int dump_tls(pid_t tid, struct thread_state *ts)
{
	for (int i = 0; i < GDT_ENTRY_TLS_ENTRIES; i++) {
		struct x86_user_desc d = { .entry_number = GDT_ENTRY_TLS_MIN + i };
		UserDescT *u = &ts->tls[i];

		user_desc_t__init(u);
		if (ptrace(PTRACE_GET_THREAD_AREA, tid, (void *)(long)d.entry_number, &d)) {
			int err = -errno;

			pr_perror("thread %d: cannot read TLS descriptor %u", tid, d.entry_number);
			return err;
		}
		u->entry_number = d.entry_number;
		u->base_addr = d.base_addr;
		u->limit = d.limit;
		u->seg_32bit = d.seg_32bit;
		u->contents_h = !!(d.contents & 2);
		u->contents_l = !!(d.contents & 1);
		u->read_exec_only = d.read_exec_only;
		u->limit_in_pages = d.limit_in_pages;
		u->seg_not_present = d.seg_not_present;
		u->usable = d.useable;
		ts->tls_ptrs[i] = u;
	}
	ts->ti.n_tls = GDT_ENTRY_TLS_ENTRIES;
	ts->ti.tls = ts->tls_ptrs;
	return 0;
}

static void creds_from_status(struct thread_state *ts, uint32_t secbits)
{
	struct proc_status *s = &ts->status;
	uint64_t caps[5] = { s->cap_inh, s->cap_prm, s->cap_eff, s->cap_bnd, s->cap_amb };
	CredsEntry *c = &ts->creds;

	creds_entry__init(c);
	c->uid = s->uid[0], c->euid = s->uid[1], c->suid = s->uid[2], c->fsuid = s->uid[3];
	c->gid = s->gid[0], c->egid = s->gid[1], c->sgid = s->gid[2], c->fsgid = s->gid[3];
	for (int i = 0; i < 5; i++) {
		ts->caps[i][0] = (uint32_t)caps[i];
		ts->caps[i][1] = (uint32_t)(caps[i] >> 32);
	}
	c->n_cap_inh = 2, c->cap_inh = ts->caps[0];
	c->n_cap_prm = 2, c->cap_prm = ts->caps[1];
	c->n_cap_eff = 2, c->cap_eff = ts->caps[2];
	c->n_cap_bnd = 2, c->cap_bnd = ts->caps[3];
	c->n_cap_amb = 2, c->cap_amb = ts->caps[4];
	c->secbits = secbits;
	c->n_groups = s->nr_groups;
	c->groups = s->groups;
	if (s->no_new_privs >= 0) {
		c->has_no_new_privs = 1;
		c->no_new_privs = (uint32_t)s->no_new_privs;
	}
	ts->tcore.creds = c;
}

/* The state only the thread itself can report, through remote syscalls. */
static int dump_thread_remote(pid_t pid, pid_t tid, const struct scratch *s,
			      struct thread_state *ts)
{
	struct rsys r;
	stack_t ss;
	uint64_t tid_addr;
	long secbits;
	int err, pdeath;

	err = rsys_prepare(&r, tid);
	if (err)
		return err;
	err = rcall(&r, "sigaltstack", NULL, __NR_sigaltstack, 0, s->addr + SCR_SIGALTSTACK, 0, 0);
	if (!err)
		err = scratch_read(s, SCR_SIGALTSTACK, &ss, sizeof(ss));
	if (!err)
		err = rcall(&r, "prctl(PR_GET_TID_ADDRESS)", NULL, __NR_prctl, PR_GET_TID_ADDRESS,
			    s->addr + SCR_TID_ADDR, 0, 0);
	if (!err)
		err = scratch_read(s, SCR_TID_ADDR, &tid_addr, sizeof(tid_addr));
	if (!err)
		err = rcall(&r, "prctl(PR_GET_PDEATHSIG)", NULL, __NR_prctl, PR_GET_PDEATHSIG,
			    s->addr + SCR_INT, 0, 0);
	if (!err)
		err = scratch_read(s, SCR_INT, &pdeath, sizeof(pdeath));
	if (!err)
		err = rcall(&r, "prctl(PR_GET_SECUREBITS)", &secbits, __NR_prctl, PR_GET_SECUREBITS,
			    0, 0, 0);
	rsys_finish(&r);
	if (err) {
		pr_err("pid %d: cannot read the state of thread %d", pid, tid);
		return err;
	}
	thread_sas_entry__init(&ts->sas);
	ts->sas.ss_sp = (uint64_t)ss.ss_sp;
	ts->sas.ss_size = ss.ss_size;
	ts->sas.ss_flags = (uint32_t)ss.ss_flags;
	ts->tcore.sas = &ts->sas;
	ts->ti.clear_tid_addr = tid_addr;
	ts->tcore.has_pdeath_sig = 1;
	ts->tcore.pdeath_sig = (uint32_t)pdeath;
	creds_from_status(ts, (uint32_t)secbits);
	return 0;
}

static int dump_thread(pid_t pid, pid_t tid, const struct scratch *s, struct thread_state *ts)
{
	int pol;
	struct user_regs_struct regs;
	struct rseq_config rc;
	struct proc_stat st;
	uint64_t mask, head;
	size_t head_len;
	int err;

	core_entry__init(&ts->core);
	thread_info_x86__init(&ts->ti);
	thread_core_entry__init(&ts->tcore);
	ts->core.mtype = CORE_ENTRY__MARCH__X86_64;
	ts->core.thread_info = &ts->ti;
	ts->core.thread_core = &ts->tcore;

	if (ptrace(PTRACE_GETREGS, tid, NULL, &regs)) {
		err = -errno;
		pr_perror("thread %d: cannot read registers", tid);
		return err;
	}
	if (regs.cs != 0x33) {
		pr_err("pid %d: thread %d runs 32-bit code (cs %#llx); only x86_64 is supported",
		       pid, tid, regs.cs);
		return -ENOTSUP;
	}
	dump_core_fixup_restart(&regs);
	regs_to_image(&regs, &ts->gp);
	ts->ti.gpregs = &ts->gp;
	err = dump_fpu(tid, &ts->fpu);
	if (err)
		return err;
	ts->ti.fpregs = &ts->fpu.fp;
	err = dump_tls(tid, ts);
	if (err)
		return err;

	if (ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof(mask), &mask)) {
		err = -errno;
		pr_perror("thread %d: cannot read its signal mask", tid);
		return err;
	}
	ts->tcore.has_blk_sigset = 1;
	ts->tcore.blk_sigset = mask;
	err = peek_siginfo(tid, 0, &ts->sigp);
	if (err)
		return err;
	ts->tcore.signals_p = &ts->sigp.q;

	if (syscall(SYS_get_robust_list, tid, &head, &head_len)) {
		err = -errno;
		pr_perror("thread %d: cannot read its robust futex list", tid);
		return err;
	}
	ts->tcore.futex_rla = head;
	ts->tcore.futex_rla_len = (uint32_t)head_len;

	memset(&rc, 0, sizeof(rc));
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, (void *)sizeof(rc), &rc) < 0) {
		pr_warn("thread %d: cannot read its rseq registration (%s); not saved", tid,
			strerror(errno));
	} else if (rc.rseq_abi_pointer) {
		rseq_entry__init(&ts->rseq);
		ts->rseq.rseq_abi_pointer = rc.rseq_abi_pointer;
		ts->rseq.rseq_abi_size = rc.rseq_abi_size;
		ts->rseq.signature = rc.signature;
		ts->tcore.rseq_entry = &ts->rseq;
	}

	err = proc_parse_stat(pid, tid, &st);
	if (err)
		return err;
	memcpy(ts->comm, st.comm, sizeof(ts->comm));
	ts->comm[sizeof(ts->comm) - 1] = '\0';
	ts->tcore.comm = ts->comm;
	ts->tcore.has_sched_nice = 1;
	ts->tcore.sched_nice = (int32_t)st.nice;
	ts->tcore.has_sched_policy = 1;
	ts->tcore.sched_policy = st.policy;
	/* /proc hides SCHED_RESET_ON_FORK; sched_getscheduler() has it in the policy. */
	if ((pol = sched_getscheduler(tid)) >= 0)
		ts->tcore.sched_policy = (uint32_t)pol;
	ts->tcore.has_sched_prio = 1;
	ts->tcore.sched_prio = st.rt_priority;

	err = proc_parse_status(pid, tid, &ts->status);
	if (err)
		return err;
	if (ts->status.seccomp > 0) /* dump_core_check said so before anything was written */
		return -ENOTSUP;
	ts->tcore.has_seccomp_mode = 1;
	ts->tcore.seccomp_mode = SECCOMP_MODE__disabled;
	return dump_thread_remote(pid, tid, s, ts);
}

static void thread_state_free(struct thread_state *ts)
{
	sigqueue_free(&ts->sigp);
	proc_status_free(&ts->status);
}

/* ---- the process ----------------------------------------------------------- */

struct proc_state {
	TaskCoreEntry tc;
	TaskKobjIdsEntry ids;
	TaskRlimitsEntry rl;
	RlimitEntry rlim[NR_RLIMITS];
	RlimitEntry *rlim_ptrs[NR_RLIMITS];
	TaskTimersEntry timers;
	ItimerEntry itimer[3];
	struct dump_timers posix;
	SaEntry sa[SIGMAX];
	SaEntry *sa_ptrs[SIGMAX];
	struct sigqueue sigs;
	char comm[16];
};

static int read_small_file(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_perror("cannot open %s", path);
		return err;
	}
	n = read(fd, buf, size - 1);
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err) {
		pr_perror("cannot read %s", path);
		return err;
	}
	buf[n] = '\0';
	return 0;
}

/*
 * The membarrier() registrations of the process, as CRIU keeps them
 * (membarrier_registration_mask: the REGISTER_* commands it issued).
 * MEMBARRIER_CMD_GET_REGISTRATIONS (6.3+) gives the mask; before it, each
 * private expedited command is tried in the target: it fails with EPERM
 * unless registered (the global one cannot be asked, and is said so).
 */
static int dump_membarrier(struct rsys *r, struct proc_state *ps)
{
	static const long priv[] = { MEMBARRIER_CMD_PRIVATE_EXPEDITED,
				     MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE,
				     MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ };
	long mask, v;
	int err = rsys_call(r, &mask, __NR_membarrier, FERRY_MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0,
			    0, 0, 0);

	if (!err && mask == -EINVAL) {
		pr_info("pid %d: no MEMBARRIER_CMD_GET_REGISTRATIONS here: private expedited "
			"registrations probed, a global expedited one cannot be seen",
			r->tid);
		mask = 0;
		for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]) && !err; i++) {
			err = rsys_call(r, &v, __NR_membarrier, (uint64_t)priv[i], 0, 0, 0, 0, 0);
			if (!err && !v)
				mask |= priv[i] << 1; /* REGISTER_X is X << 1 */
		}
	}
	if (err)
		return err;
	if (mask < 0) {
		pr_err("pid %d: cannot read its membarrier registrations: %s", r->tid,
		       strerror((int)-mask));
		return (int)mask;
	}
	if (mask) {
		pr_debug("pid %d: membarrier registrations %#lx", r->tid, mask);
		ps->tc.has_membarrier_registration_mask = 1;
		ps->tc.membarrier_registration_mask = (uint32_t)mask;
	}
	return 0;
}

static int dump_proc_remote(pid_t pid, const struct scratch *s, struct proc_state *ps)
{
	struct itimerval itv[3];
	struct rsys r;
	int err, sub = 0;
	size_t n = 0;

	err = rsys_prepare(&r, pid);
	if (err)
		return err;
	for (int sig = 1; sig <= SIGMAX && !err; sig++) {
		struct kernel_sigaction ka;
		SaEntry *e;

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		err = rcall(&r, "rt_sigaction", NULL, __NR_rt_sigaction, (uint64_t)sig, 0,
			    s->addr + SCR_SIGACTION, 8);
		if (!err)
			err = scratch_read(s, SCR_SIGACTION, &ka, sizeof(ka));
		if (err)
			break;
		e = &ps->sa[n];
		sa_entry__init(e);
		e->sigaction = ka.handler;
		e->flags = ka.flags;
		e->restorer = ka.restorer;
		e->mask = ka.mask;
		e->has_compat_sigaction = 1;
		e->compat_sigaction = 0;
		ps->sa_ptrs[n++] = e;
	}
	for (int w = 0; w < 3 && !err; w++)
		err = rcall(&r, "getitimer", NULL, __NR_getitimer, (uint64_t)w,
			    s->addr + SCR_ITIMER + (uint64_t)w * sizeof(struct itimerval), 0, 0);
	if (!err)
		err = scratch_read(s, SCR_ITIMER, itv, sizeof(itv));
	if (!err)
		err = dump_timers_posix(pid, &r, s->addr + SCR_TIMER, &ps->posix);
	if (!err)
		err = rcall(&r, "prctl(PR_GET_CHILD_SUBREAPER)", NULL, __NR_prctl,
			    PR_GET_CHILD_SUBREAPER, s->addr + SCR_INT, 0, 0);
	if (!err)
		err = scratch_read(s, SCR_INT, &sub, sizeof(sub));
	if (!err)
		err = dump_membarrier(&r, ps);
	rsys_finish(&r);
	if (err) {
		pr_err("pid %d: cannot read its signal handlers, timers or prctl state", pid);
		return err;
	}
	ps->tc.n_sigactions = n;
	ps->tc.sigactions = ps->sa_ptrs;
	task_timers_entry__init(&ps->timers);
	for (int w = 0; w < 3; w++) {
		ItimerEntry *it = &ps->itimer[w];

		itimer_entry__init(it);
		it->isec = (uint64_t)itv[w].it_interval.tv_sec;
		it->iusec = (uint64_t)itv[w].it_interval.tv_usec;
		it->vsec = (uint64_t)itv[w].it_value.tv_sec;
		it->vusec = (uint64_t)itv[w].it_value.tv_usec;
	}
	ps->timers.real = &ps->itimer[0];
	ps->timers.virt = &ps->itimer[1];
	ps->timers.prof = &ps->itimer[2];
	ps->timers.n_posix = ps->posix.n;
	ps->timers.posix = ps->posix.ptrs;
	ps->tc.timers = &ps->timers;
	ps->tc.has_child_subreaper = 1;
	ps->tc.child_subreaper = !!sub;
	return 0;
}

static int dump_proc_state(const struct pproc *p, const struct core_ids *ids,
			   const struct scratch *s, const struct thread_state *leader,
			   struct proc_state *ps)
{
	char buf[256];
	struct proc_stat st;
	int err;

	task_core_entry__init(&ps->tc);
	ps->tc.task_state = p->stop_signo ? TASK_STOPPED : TASK_ALIVE;
	if (p->stop_signo) {
		/* CRIU's fields: a stopped task comes back stopped, by the same signal. */
		ps->tc.has_stop_signo = 1;
		ps->tc.stop_signo = (uint32_t)p->stop_signo;
	}
	err = proc_parse_stat(p->pid, 0, &st);
	if (err)
		return err;
	memcpy(ps->comm, st.comm, sizeof(ps->comm));
	ps->comm[sizeof(ps->comm) - 1] = '\0';
	ps->tc.comm = ps->comm;
	ps->tc.flags = st.flags;
	ps->tc.blk_sigset = leader->tcore.blk_sigset;

	err = read_small_file(p->pid, "personality", buf, sizeof(buf));
	if (err)
		return err;
	ps->tc.personality = (uint32_t)strtoul(buf, NULL, 16);
	if (!read_small_file(p->pid, "loginuid", buf, sizeof(buf))) {
		ps->tc.has_loginuid = 1;
		ps->tc.loginuid = (uint32_t)strtoul(buf, NULL, 10);
	}
	err = read_small_file(p->pid, "oom_score_adj", buf, sizeof(buf));
	if (err)
		return err;
	ps->tc.has_oom_score_adj = 1;
	ps->tc.oom_score_adj = (int32_t)strtol(buf, NULL, 10);

	task_rlimits_entry__init(&ps->rl);
	{
		struct rlimit64 rl[NR_RLIMITS];

		for (int i = 0; i < NR_RLIMITS; i++) {
			if (!prlimit64(p->pid, (enum __rlimit_resource)i, NULL, &rl[i]))
				continue;
			err = -errno;
			if (err == -EPERM && !i) {
				/* Another uid and no CAP_SYS_RESOURCE: /proc says the same. */
				err = proc_parse_limits(p->pid, rl, NR_RLIMITS);
				if (!err)
					break;
			}
			pr_errno(err, "pid %d: cannot read rlimit %d", p->pid, i);
			return err;
		}
		for (int i = 0; i < NR_RLIMITS; i++) {
			rlimit_entry__init(&ps->rlim[i]);
			ps->rlim[i].cur = rl[i].rlim_cur;
			ps->rlim[i].max = rl[i].rlim_max;
			ps->rlim_ptrs[i] = &ps->rlim[i];
		}
	}
	ps->rl.n_rlimits = NR_RLIMITS;
	ps->rl.rlimits = ps->rlim_ptrs;
	ps->tc.rlimits = &ps->rl;

	err = peek_siginfo(p->pid, 1, &ps->sigs);
	if (err)
		return err;
	ps->tc.signals_s = &ps->sigs.q;

	task_kobj_ids_entry__init(&ps->ids);
	ps->ids.vm_id = ids->vm_id;
	ps->ids.files_id = ids->files_id;
	ps->ids.fs_id = ids->fs_id;
	ps->ids.sighand_id = ids->sighand_id;
	return dump_proc_remote(p->pid, s, ps);
}

static int scratch_map(pid_t pid, struct scratch *s)
{
	struct rsys r;
	long addr = 0;
	int err;

	s->pid = pid;
	s->addr = 0;
	err = rsys_prepare(&r, pid);
	if (err)
		return err;
	err = rcall(&r, "mmap", &addr, __NR_mmap, 0, SCRATCH_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS);
	rsys_finish(&r);
	if (!err)
		s->addr = (uint64_t)addr;
	return err;
}

static void scratch_unmap(struct scratch *s)
{
	struct rsys r;

	if (!s->addr || rsys_prepare(&r, s->pid))
		return;
	if (rcall(&r, "munmap", NULL, __NR_munmap, s->addr, SCRATCH_SIZE, 0, 0))
		pr_warn("pid %d: scratch page at %#lx left mapped", s->pid, (unsigned long)s->addr);
	rsys_finish(&r);
	s->addr = 0;
}

int dump_core_proc(const struct pproc *p, const struct core_ids *ids, int dirfd)
{
	struct thread_state *ts;
	struct proc_state *ps;
	struct scratch s = { 0 };
	int err;

	ts = calloc(p->nr_threads, sizeof(*ts));
	ps = calloc(1, sizeof(*ps));
	if (!ts || !ps) {
		err = -ENOMEM;
		goto out;
	}
	err = scratch_map(p->pid, &s);
	if (err) {
		pr_err("pid %d: cannot map a scratch page for remote calls", p->pid);
		goto out;
	}
	for (size_t i = 0; i < p->nr_threads && !err; i++)
		err = dump_thread(p->pid, p->tids[i], &s, &ts[i]);
	if (!err)
		err = dump_proc_state(p, ids, &s, &ts[0], ps);
	scratch_unmap(&s); /* before anything else reads the address space */
	if (err)
		goto out;
	ts[0].core.tc = &ps->tc;
	ts[0].core.ids = &ps->ids;
	if (ids->cg_set) {
		/* CRIU 3.x reads the task's set, 4.x each thread's. */
		ps->tc.has_cg_set = 1;
		ps->tc.cg_set = ids->cg_set;
		for (size_t i = 0; i < p->nr_threads; i++) {
			ts[i].tcore.has_cg_set = 1;
			ts[i].tcore.cg_set = ids->cg_set;
		}
	}
	for (size_t i = 0; i < p->nr_threads && !err; i++) {
		char name[64];

		snprintf(name, sizeof(name), "core-%d.img", p->tids[i]);
		err = img_write_one(dirfd, name, IMG_CORE, &ts[i].core.base);
	}
out:
	scratch_unmap(&s);
	for (size_t i = 0; ts && i < p->nr_threads;
	     i++) /* calloc'ed: untouched ones free nothing */
		thread_state_free(&ts[i]);
	if (ps) {
		sigqueue_free(&ps->sigs);
		dump_timers_free(&ps->posix);
	}
	free(ts);
	free(ps);
	return err;
}

int dump_core_check(const struct pproc *p)
{
	struct proc_status st;
	int err, refused = 0;

	for (size_t i = 0; i < p->nr_threads; i++) {
		err = proc_parse_status(p->pid, p->tids[i], &st);
		if (err)
			return err;
		if (st.seccomp > 0) {
			pr_err("pid %d: thread %d is in seccomp mode %d; seccomp is not supported",
			       p->pid, p->tids[i], st.seccomp);
			refused = 1;
		}
		/* CRIU's core keeps no runtime, deadline or period. */
		if ((sched_getscheduler(p->tids[i]) & ~SCHED_RESET_ON_FORK) == SCHED_DEADLINE) {
			pr_err("pid %d: thread %d runs under SCHED_DEADLINE; not supported", p->pid,
			       p->tids[i]);
			refused = 1;
		}
	}
	return refused ? -ENOTSUP : 0;
}
