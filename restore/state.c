// SPDX-License-Identifier: MIT
/*
 * Threads, signals, registers, limits and creds of a process under restore
 * (see state.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/elf.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "core_abi.h"
#include "files.h"
#include "log.h"
#include "restart.h"
#include "rsys.h"
#include "state.h"
#include "timers.h"
#include "x86_fpu.h"

/* ---- threads ----------------------------------------------------------------------- */

static int wait_new_thread(pid_t pid, pid_t tid)
{
	int status;

	for (;;) {
		pid_t w = waitpid(tid, &status, __WALL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int err = -errno;

			pr_errno(err, "pid %d: waiting for new thread %d", pid, tid);
			return err;
		}
		if (WIFSTOPPED(status))
			return 0;
		pr_err("pid %d: new thread %d died before it was set up", pid, tid);
		return -ESRCH;
	}
}

int rstate_threads(struct rtask *t)
{
	const struct rimg_proc *ip = t->ip;

	for (size_t i = 1; i < ip->nr_threads; i++) {
		struct clone_args a;
		pid_t tid = ip->threads[i].tid;
		long got;
		int err;

		memset(&a, 0, sizeof(a));
		a.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
			  CLONE_SYSVSEM;
		a.set_tid = rt_data(t, 256);
		a.set_tid_size = 1;
		err = rt_put(t, 256, &tid, sizeof(tid));
		if (!err)
			err = rt_put(t, 0, &a, sizeof(a));
		if (!err)
			err = rt_call(t, t->pid, "clone3(thread)", &got, __NR_clone3, rt_data(t, 0),
				      sizeof(a), 0, 0, 0, 0);
		if (err) {
			pr_err("pid %d: cannot create thread %d%s", t->pid, tid,
			       err == -EEXIST ? " (the tid is taken)" : "");
			return err;
		}
		if ((pid_t)got != tid) {
			pr_err("pid %d: thread %d was created as %ld", t->pid, tid, got);
			return -EINVAL;
		}
		err = wait_new_thread(t->pid, tid);
		if (err)
			return err;
		t->nr_seized++;
	}
	return 0;
}

/* ---- per thread -------------------------------------------------------------------- */

static int restore_thread(struct rtask *t, const struct rimg_thread *th)
{
	const ThreadCoreEntry *tc = th->core->thread_core;
	const ThreadInfoX86 *ti = th->core->thread_info;
	pid_t tid = th->tid;
	int err = 0;

	if (tc->sas) {
		struct {
			uint64_t sp;
			int32_t flags, pad;
			uint64_t size;
		} ss = { tc->sas->ss_sp, (int32_t)tc->sas->ss_flags, 0, tc->sas->ss_size };

		/* SS_ONSTACK is a state, not a request: the kernel refuses it as a flag. */
		ss.flags &= ~SS_ONSTACK;
		err = rt_put(t, 0, &ss, sizeof(ss));
		if (!err)
			err = rt_call(t, tid, "sigaltstack", NULL, __NR_sigaltstack, rt_data(t, 0),
				      0, 0, 0, 0, 0);
	}
	if (!err)
		err = rt_call(t, tid, "set_tid_address", NULL, __NR_set_tid_address,
			      ti->clear_tid_addr, 0, 0, 0, 0, 0);
	if (!err && tc->futex_rla_len)
		err = rt_call(t, tid, "set_robust_list", NULL, __NR_set_robust_list, tc->futex_rla,
			      tc->futex_rla_len, 0, 0, 0, 0);
	if (!err && tc->rseq_entry && tc->rseq_entry->rseq_abi_pointer)
		err = rt_call(t, tid, "rseq", NULL, __NR_rseq, tc->rseq_entry->rseq_abi_pointer,
			      tc->rseq_entry->rseq_abi_size, 0, tc->rseq_entry->signature, 0, 0);
	if (!err)
		err = rt_call(t, tid, "prctl(PR_SET_PDEATHSIG)", NULL, __NR_prctl, PR_SET_PDEATHSIG,
			      tc->has_pdeath_sig ? tc->pdeath_sig : 0, 0, 0, 0, 0);
	if (!err && tc->comm) {
		char comm[16];

		snprintf(comm, sizeof(comm), "%s", tc->comm);
		err = rt_put(t, 0, comm, sizeof(comm));
		if (!err)
			err = rt_call(t, tid, "prctl(PR_SET_NAME)", NULL, __NR_prctl, PR_SET_NAME,
				      rt_data(t, 0), 0, 0, 0, 0);
	}
	if (err)
		return err;
	if (tc->has_sched_nice && setpriority(PRIO_PROCESS, (id_t)tid, tc->sched_nice))
		pr_warn("thread %d: cannot set nice %d (%s)", tid, tc->sched_nice, strerror(errno));
	if (tc->has_sched_policy && tc->sched_policy != SCHED_OTHER) {
		struct sched_param sp = { .sched_priority = (int)tc->sched_prio };

		if (sched_setscheduler(tid, (int)tc->sched_policy, &sp)) {
			err = -errno;
			pr_errno(err, "thread %d: cannot set scheduling policy %u", tid,
				 tc->sched_policy);
		}
	}
	return err;
}

/* ---- creds ------------------------------------------------------------------------- */

static uint64_t cap64(const uint32_t *v, size_t n)
{
	return (n > 0 ? v[0] : 0) | (n > 1 ? (uint64_t)v[1] << 32 : 0);
}

/* Creds equal to ferry's own need nothing (the usual case: both root). */
static int creds_are_mine(const CredsEntry *c)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	uid_t r, e, s;
	gid_t gr, ge, gs;
	gid_t groups[NGROUPS_MAX];
	int ng;

	if (getresuid(&r, &e, &s) || r != c->uid || e != c->euid || s != c->suid ||
	    c->fsuid != c->euid)
		return 0;
	if (getresgid(&gr, &ge, &gs) || gr != c->gid || ge != c->egid || gs != c->sgid ||
	    c->fsgid != c->egid)
		return 0;
	ng = getgroups(NGROUPS_MAX, groups);
	if (ng < 0 || (size_t)ng != c->n_groups)
		return 0;
	for (int i = 0; i < ng; i++)
		if (groups[i] != c->groups[i])
			return 0;
	if (syscall(SYS_capget, &h, d))
		return 0;
	if (cap64(c->cap_eff, c->n_cap_eff) != (d[0].effective | (uint64_t)d[1].effective << 32) ||
	    cap64(c->cap_prm, c->n_cap_prm) != (d[0].permitted | (uint64_t)d[1].permitted << 32) ||
	    cap64(c->cap_inh, c->n_cap_inh) !=
		    (d[0].inheritable | (uint64_t)d[1].inheritable << 32))
		return 0;
	for (int cap = 0; cap < 64; cap++) {
		int in = prctl(PR_CAPBSET_READ, cap);

		if (in < 0)
			break;
		if (!!in != !!(cap64(c->cap_bnd, c->n_cap_bnd) & (1ull << cap)))
			return 0;
		in = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);
		if (in >= 0 && !!in != !!(cap64(c->cap_amb, c->n_cap_amb) & (1ull << cap)))
			return 0;
	}
	return prctl(PR_GET_SECUREBITS) == (int)c->secbits;
}

#define SECBIT_NO_SETUID_FIXUP_ (1 << 2)

static int restore_creds(struct rtask *t, pid_t tid, const CredsEntry *c)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, (int)tid };
	struct __user_cap_data_struct d[2];
	uint64_t bnd = cap64(c->cap_bnd, c->n_cap_bnd), amb = cap64(c->cap_amb, c->n_cap_amb);
	uint64_t eff = cap64(c->cap_eff, c->n_cap_eff), prm = cap64(c->cap_prm, c->n_cap_prm);
	uint64_t inh = cap64(c->cap_inh, c->n_cap_inh);
	int err = 0;

	if (c->n_groups > 1024)
		return -EINVAL;
	for (int cap = 0; !err && cap < 64; cap++) {
		if (bnd & (1ull << cap) || prctl(PR_CAPBSET_READ, cap) < 0)
			continue;
		err = rt_call(t, tid, "prctl(PR_CAPBSET_DROP)", NULL, __NR_prctl, PR_CAPBSET_DROP,
			      (uint64_t)cap, 0, 0, 0, 0);
	}
	if (!err)
		err = rt_put(t, 0, c->groups, c->n_groups * sizeof(uint32_t));
	if (!err)
		err = rt_call(t, tid, "setgroups", NULL, __NR_setgroups, c->n_groups, rt_data(t, 0),
			      0, 0, 0, 0);
	/* Keep the capabilities across the uid change; the final securebits come after. */
	if (!err)
		err = rt_call(t, tid, "prctl(PR_SET_SECUREBITS)", NULL, __NR_prctl,
			      PR_SET_SECUREBITS, c->secbits | SECBIT_NO_SETUID_FIXUP_, 0, 0, 0, 0);
	if (!err)
		err = rt_call(t, tid, "setresgid", NULL, __NR_setresgid, c->gid, c->egid, c->sgid,
			      0, 0, 0);
	if (!err)
		err = rt_call(t, tid, "setfsgid", NULL, __NR_setfsgid, c->fsgid, 0, 0, 0, 0, 0);
	if (!err)
		err = rt_call(t, tid, "setresuid", NULL, __NR_setresuid, c->uid, c->euid, c->suid,
			      0, 0, 0);
	if (!err)
		err = rt_call(t, tid, "setfsuid", NULL, __NR_setfsuid, c->fsuid, 0, 0, 0, 0, 0);
	if (!err)
		err = rt_call(t, tid, "prctl(PR_SET_SECUREBITS)", NULL, __NR_prctl,
			      PR_SET_SECUREBITS, c->secbits, 0, 0, 0, 0);
	memset(d, 0, sizeof(d));
	d[0].effective = (uint32_t)eff, d[1].effective = (uint32_t)(eff >> 32);
	d[0].permitted = (uint32_t)prm, d[1].permitted = (uint32_t)(prm >> 32);
	d[0].inheritable = (uint32_t)inh, d[1].inheritable = (uint32_t)(inh >> 32);
	h.pid = 0;
	if (!err)
		err = rt_put(t, 0, &h, sizeof(h));
	if (!err)
		err = rt_put(t, 64, d, sizeof(d));
	if (!err)
		err = rt_call(t, tid, "capset", NULL, __NR_capset, rt_data(t, 0), rt_data(t, 64), 0,
			      0, 0, 0);
	for (int cap = 0; !err && cap < 64; cap++)
		if (amb & (1ull << cap))
			err = rt_call(t, tid, "prctl(PR_CAP_AMBIENT_RAISE)", NULL, __NR_prctl,
				      PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (uint64_t)cap, 0, 0, 0);
	if (!err && c->has_no_new_privs && c->no_new_privs)
		err = rt_call(t, tid, "prctl(PR_SET_NO_NEW_PRIVS)", NULL, __NR_prctl,
			      PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
	if (err)
		pr_err("pid %d thread %d: cannot restore its credentials (uid %u gid %u)", t->pid,
		       tid, c->uid, c->gid);
	return err;
}

/* ---- the process ------------------------------------------------------------------- */

static int restore_sigactions(struct rtask *t, const TaskCoreEntry *tc)
{
	size_t k = 0;

	for (int sig = 1; sig <= SIGMAX && k < tc->n_sigactions; sig++) {
		const SaEntry *e;
		struct kernel_sigaction ka;
		int err;

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		e = tc->sigactions[k++];
		ka.handler = e->sigaction;
		ka.flags = e->flags;
		ka.restorer = e->restorer;
		ka.mask = e->mask;
		err = rt_put(t, 0, &ka, sizeof(ka));
		if (!err)
			err = rt_call(t, t->pid, "rt_sigaction", NULL, __NR_rt_sigaction,
				      (uint64_t)sig, rt_data(t, 0), 0, 8, 0, 0);
		if (err) {
			pr_err("pid %d: cannot restore the action of signal %d", t->pid, sig);
			return err;
		}
	}
	return 0;
}

static int restore_timers(struct rtask *t, const TaskTimersEntry *tt)
{
	const ItimerEntry *its[3] = { tt->real, tt->virt, tt->prof };

	for (int w = 0; w < 3; w++) {
		struct itimerval v;
		int err;

		if (!its[w] || !(its[w]->vsec | its[w]->vusec))
			continue;
		v.it_interval.tv_sec = (time_t)its[w]->isec;
		v.it_interval.tv_usec = (suseconds_t)its[w]->iusec;
		v.it_value.tv_sec = (time_t)its[w]->vsec;
		v.it_value.tv_usec = (suseconds_t)its[w]->vusec;
		err = rt_put(t, 0, &v, sizeof(v));
		if (!err)
			err = rt_call(t, t->pid, "setitimer", NULL, __NR_setitimer, (uint64_t)w,
				      rt_data(t, 0), 0, 0, 0, 0);
		if (err)
			return err;
	}
	return 0;
}

static int remote_path_call(struct rtask *t, const struct rimg *r, uint32_t id, long nr,
			    const char *what)
{
	const FileEntry *fe = rimg_file(r, id);
	char buf[PATH_MAX];
	const char *path;
	int err;

	if (!fe || fe->type != FD_TYPES__REG || !fe->reg) {
		pr_err("pid %d: fs image names file id %u, which is not in files.img", t->pid, id);
		return -EINVAL;
	}
	path = rfiles_reg_path(fe, buf, sizeof(buf));
	if (nr == __NR_chroot && !strcmp(path, "/"))
		return 0;
	if (strlen(path) >= RT_DATA_SIZE)
		return -ENAMETOOLONG;
	err = rt_put(t, 0, path, strlen(path) + 1);
	if (!err)
		err = rt_call(t, t->pid, what, NULL, nr, rt_data(t, 0), 0, 0, 0, 0, 0);
	if (err)
		pr_err("pid %d: cannot %s to %s", t->pid, what, path);
	return err;
}

static int write_proc(pid_t pid, const char *name, const char *val)
{
	char path[64];
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		err = -errno;
	if (fd >= 0)
		close(fd);
	if (err)
		pr_errno(err, "cannot write %s to %s", val, path);
	return err;
}

int rstate_restore(struct rtask *t, const struct rimg *r)
{
	const struct rimg_proc *ip = t->ip;
	const TaskCoreEntry *tc = ip->threads[0].core->tc;
	char buf[32];
	int err = 0;

	err = restore_sigactions(t, tc);
	if (!err && tc->timers)
		err = restore_timers(t, tc->timers);
	if (!err && tc->has_child_subreaper && tc->child_subreaper)
		err = rt_call(t, t->pid, "prctl(PR_SET_CHILD_SUBREAPER)", NULL, __NR_prctl,
			      PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0, 0);
	if (!err)
		err = rt_call(t, t->pid, "personality", NULL, __NR_personality, tc->personality, 0,
			      0, 0, 0, 0);
	if (!err && ip->fs) {
		if (ip->fs->has_umask)
			err = rt_call(t, t->pid, "umask", NULL, __NR_umask, ip->fs->umask, 0, 0, 0,
				      0, 0);
		if (!err)
			err = remote_path_call(t, r, ip->fs->cwd_id, __NR_chdir, "chdir");
		if (!err)
			err = remote_path_call(t, r, ip->fs->root_id, __NR_chroot, "chroot");
	}
	for (size_t i = 0; !err && i < ip->nr_threads; i++)
		err = restore_thread(t, &ip->threads[i]);
	if (err)
		return err;
	if (tc->rlimits) {
		for (size_t i = 0; i < tc->rlimits->n_rlimits && i < NR_RLIMITS; i++) {
			struct rlimit64 rl = { tc->rlimits->rlimits[i]->cur,
					       tc->rlimits->rlimits[i]->max };

			if (prlimit64(t->pid, (enum __rlimit_resource)i, &rl, NULL)) {
				err = -errno;
				pr_errno(err, "pid %d: cannot set rlimit %zu", t->pid, i);
				return err;
			}
		}
	}
	if (tc->has_oom_score_adj) {
		snprintf(buf, sizeof(buf), "%d", tc->oom_score_adj);
		err = write_proc(t->pid, "oom_score_adj", buf);
		if (err)
			return err;
	}
	for (size_t i = 0; !err && i < ip->nr_threads; i++) {
		const CredsEntry *c = ip->threads[i].core->thread_core->creds;

		if (c && !creds_are_mine(c))
			err = restore_creds(t, ip->threads[i].tid, c);
	}
	return err;
}

/* ---- registers and signals, last ------------------------------------------------------ */

static int queue_signals(struct rtask *t, pid_t tid, const SignalQueueEntry *q, int shared)
{
	for (size_t i = 0; q && i < q->n_signals; i++) {
		const ProtobufCBinaryData *si = &q->signals[i]->siginfo;
		int32_t signo;
		int err;

		if (si->len != 128) {
			pr_err("pid %d: a pending signal has a %zu-byte siginfo", t->pid, si->len);
			return -EINVAL;
		}
		memcpy(&signo, si->data, sizeof(signo));
		err = rt_put(t, 0, si->data, si->len);
		/* Sent by the process to itself, so any si_code is allowed. */
		if (!err && shared)
			err = rt_call(t, t->pid, "rt_sigqueueinfo", NULL, __NR_rt_sigqueueinfo,
				      (uint64_t)t->pid, (uint64_t)signo, rt_data(t, 0), 0, 0, 0);
		else if (!err)
			err = rt_call(t, t->pid, "rt_tgsigqueueinfo", NULL, __NR_rt_tgsigqueueinfo,
				      (uint64_t)t->pid, (uint64_t)tid, (uint64_t)signo,
				      rt_data(t, 0), 0, 0);
		if (err) {
			pr_err("pid %d thread %d: cannot queue pending signal %d again", t->pid,
			       tid, signo);
			return err;
		}
	}
	return 0;
}

static int unmap_scratch(struct rtask *t)
{
	struct rsys r;
	long ret = 0;
	int err;

	/* From the vDSO, now at its dumped place: the scratch code cannot unmap itself. */
	err = rsys_prepare(&r, t->pid);
	if (!err)
		err = rsys_call(&r, &ret, __NR_munmap, t->scratch, RT_SCRATCH_SIZE, 0, 0, 0, 0);
	rsys_finish(&r);
	if (!err && ret < 0)
		err = (int)ret;
	if (err)
		pr_errno(err, "pid %d: cannot unmap the scratch pages at %#lx", t->pid,
			 (unsigned long)t->scratch);
	return err;
}

static void regs_from_image(const UserX86RegsEntry *g, struct user_regs_struct *r)
{
	memset(r, 0, sizeof(*r));
	r->r15 = g->r15, r->r14 = g->r14, r->r13 = g->r13, r->r12 = g->r12;
	r->rbp = g->bp, r->rbx = g->bx, r->r11 = g->r11, r->r10 = g->r10;
	r->r9 = g->r9, r->r8 = g->r8, r->rax = g->ax, r->rcx = g->cx;
	r->rdx = g->dx, r->rsi = g->si, r->rdi = g->di;
	r->orig_rax = g->orig_ax; /* rrestart_regs() keeps it for an interrupted syscall */
	r->rip = g->ip, r->cs = g->cs, r->eflags = g->flags, r->rsp = g->sp;
	r->ss = g->ss, r->fs_base = g->fs_base, r->gs_base = g->gs_base;
	r->ds = g->ds, r->es = g->es, r->fs = g->fs, r->gs = g->gs;
}

static int set_thread_regs(pid_t pid, const struct rimg_thread *th)
{
	const ThreadInfoX86 *ti = th->core->thread_info;
	const ThreadCoreEntry *tc = th->core->thread_core;
	uint8_t xbuf[FPU_XSAVE_MAX] __attribute__((aligned(64)));
	struct user_regs_struct regs;
	struct iovec iov;
	uint64_t mask = tc->has_blk_sigset ? tc->blk_sigset : 0;
	size_t xlen;
	long nr;
	int err;

	if (ti->fpregs) {
		xlen = ti->fpregs->xsave ? fpu_xsave_size() : 512;
		if (xlen > sizeof(xbuf))
			return -E2BIG;
		err = fpu_from_image(ti->fpregs, xbuf, xlen);
		if (err) {
			pr_err("thread %d: its FPU state does not fit this CPU", th->tid);
			return err;
		}
		iov.iov_base = xbuf;
		iov.iov_len = xlen;
		if (ptrace(PTRACE_SETREGSET, th->tid,
			   (void *)(long)(ti->fpregs->xsave ? NT_X86_XSTATE : NT_PRFPREG), &iov)) {
			err = -errno;
			pr_errno(err, "pid %d thread %d: cannot set FPU registers", pid, th->tid);
			return err;
		}
	}
	for (size_t i = 0; i < ti->n_tls; i++) {
		const UserDescT *u = ti->tls[i];
		struct x86_user_desc d = { .entry_number = u->entry_number,
					   .base_addr = u->base_addr,
					   .limit = u->limit,
					   .seg_32bit = u->seg_32bit,
					   .contents = (u->contents_h << 1) | u->contents_l,
					   .read_exec_only = u->read_exec_only,
					   .limit_in_pages = u->limit_in_pages,
					   .seg_not_present = u->seg_not_present,
					   .useable = u->usable };

		if (ptrace(PTRACE_SET_THREAD_AREA, th->tid, (void *)(long)u->entry_number, &d)) {
			err = -errno;
			pr_errno(err, "pid %d thread %d: cannot set TLS descriptor %u", pid,
				 th->tid, u->entry_number);
			return err;
		}
	}
	regs_from_image(ti->gpregs, &regs);
	err = rrestart_regs(pid, th->tid, &regs, &nr);
	if (err)
		return err;
	if (nr >= 0)
		pr_debug(
			"pid %d thread %d: interrupted in syscall %ld, -ERESTART %ld to the kernel",
			pid, th->tid, nr, rrestart_code(nr));
	if (ptrace(PTRACE_SETREGS, th->tid, NULL, &regs)) {
		err = -errno;
		pr_errno(err, "pid %d thread %d: cannot set registers", pid, th->tid);
		return err;
	}
	if (ptrace(PTRACE_SETSIGMASK, th->tid, (void *)sizeof(mask), &mask)) {
		err = -errno;
		pr_errno(err, "pid %d thread %d: cannot set its signal mask", pid, th->tid);
		return err;
	}
	return 0;
}

int rstate_finish(struct rtask *t)
{
	const struct rimg_proc *ip = t->ip;
	int err = 0;

	/* Every thread still blocks every signal (the shell did): nothing is delivered yet. */
	for (size_t i = 0; !err && i < ip->nr_threads; i++)
		err = queue_signals(t, ip->threads[i].tid,
				    ip->threads[i].core->thread_core->signals_p, 0);
	if (!err)
		err = queue_signals(t, t->pid, ip->threads[0].core->tc->signals_s, 1);
	/* Armed last, so that the time left runs from (nearly) the moment the process does. */
	if (!err)
		err = rtimers_restore(t, ip->threads[0].core->tc->timers);
	if (!err)
		err = unmap_scratch(t);
	for (size_t i = 0; !err && i < ip->nr_threads; i++)
		err = set_thread_regs(t->pid, &ip->threads[i]);
	return err;
}
