// SPDX-License-Identifier: MIT
/*
 * Freezing a process tree (see pstree.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kcmp.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "pstree: "
#include "log.h"
#include "proc_parse.h"
#include "pstree.h"
#include "rsys.h"

/* Re-reading a thread list more often than this means threads are being born faster than seized. */
#define FREEZE_MAX_PASSES 1000

static int note_seized(struct pstree *t, pid_t tid)
{
	if (t->nr_seized == t->cap_seized) {
		size_t cap = t->cap_seized ? t->cap_seized * 2 : 64;
		pid_t *n = realloc(t->seized, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		t->seized = n;
		t->cap_seized = cap;
	}
	t->seized[t->nr_seized++] = tid;
	return 0;
}

static int is_seized(const struct pstree *t, pid_t tid)
{
	for (size_t i = 0; i < t->nr_seized; i++)
		if (t->seized[i] == tid)
			return 1;
	return 0;
}

int pstree_find(const struct pstree *t, pid_t pid)
{
	for (size_t i = 0; i < t->nr; i++)
		if (t->procs[i].pid == pid)
			return (int)i;
	return -1;
}

/* Is @pid ferry itself or one of its ancestors? Freezing those would freeze ferry. */
static int is_self_or_ancestor(pid_t pid)
{
	pid_t p = getpid();

	while (p > 1) {
		struct proc_stat st;

		if (p == pid)
			return 1;
		if (proc_parse_stat(p, 0, &st))
			return 0;
		p = st.ppid;
	}
	return p == pid;
}

/* Is @pid in ferry's own namespace of @ns ("pid", "mnt")? 1, 0, or -errno. */
static int same_ns(pid_t pid, const char *ns)
{
	char mine[64], theirs[64], path[64];
	ssize_t a, b;

	snprintf(path, sizeof(path), "/proc/self/ns/%s", ns);
	a = readlink(path, mine, sizeof(mine) - 1);
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, ns);
	b = readlink(path, theirs, sizeof(theirs) - 1);
	if (a < 0 || b < 0)
		return -errno;
	return a == b && !memcmp(mine, theirs, (size_t)a);
}

/*
 * Checks on a process before any of its threads is seized. Returns 0, 1 for
 * a zombie that @zombie_ok lets in (its stat in *@zst), or -errno.
 */
static int check_proc(pid_t pid, int zombie_ok, struct proc_stat *zst)
{
	struct proc_status status;
	struct proc_stat st;
	int err;

	err = proc_is_kernel_thread(pid);
	if (err < 0) {
		if (err == -ESRCH || err == -ENOENT)
			pr_err("pid %d: no such process", pid);
		return err == -ENOENT ? -ESRCH : err;
	}
	if (err == 1) {
		pr_err("pid %d: is a kernel thread, it cannot be dumped", pid);
		return -EPERM;
	}
	err = proc_parse_stat(pid, 0, &st);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	/* A zombie has no namespaces left to compare: a child of the tree was in ours. */
	if (st.state == 'Z' && zombie_ok) {
		*zst = st;
		return 1;
	}
	/* Before the namespaces: a zombie has none left, which would read "no such process". */
	if (st.state == 'Z' || st.state == 'X') {
		pr_err("pid %d: is a zombie (dead, not yet reaped); zombies are not supported here",
		       pid);
		return -EPERM;
	}
	for (int i = 0; i < 2; i++) {
		static const char *const ns[] = { "pid", "mnt" };
		int same = same_ns(pid, ns[i]);

		if (same == -ENOENT || same == -ESRCH) {
			pr_err("pid %d: no such process", pid);
			return -ESRCH;
		}
		if (same == 0) {
			/* Its pids and paths would mean something else here: say so. */
			pr_err("pid %d: lives in another %s namespace than ferry; namespaces are not "
			       "supported yet",
			       pid, ns[i]);
			return -ENOTSUP;
		}
	}
	if (is_self_or_ancestor(pid)) {
		pr_err("pid %d: is ferry itself or one of its ancestors", pid);
		return -EPERM;
	}
	err = proc_parse_status(pid, 0, &status);
	if (err)
		return err;
	if (status.tracer_pid) {
		pr_err("pid %d: is already traced by pid %d", pid, status.tracer_pid);
		err = -EBUSY;
	}
	proc_status_free(&status);
	return err;
}

/*
 * The stop signal of a thread that was in a group stop (SIGSTOP, SIGTSTP, ...)
 * when it was seized, else 0: seizing a stopped thread reports its group stop
 * (PTRACE_EVENT_STOP with the stop signal), an interrupt reports SIGTRAP.
 */
static int group_stop_signo(pid_t tid)
{
	siginfo_t si;

	if (ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) || si.si_signo == SIGTRAP)
		return 0;
	pr_debug("pid %d: stopped by signal %d", tid, si.si_signo);
	return si.si_signo;
}

/* Seize every thread of @p until its thread list is stable. */
static int freeze_threads(struct pstree *t, struct pproc *p)
{
	pid_t *tids = NULL;
	size_t n = 0;
	int err = 0, pass, fresh;

	for (pass = 0; pass < FREEZE_MAX_PASSES; pass++) {
		free(tids);
		tids = NULL;
		err = proc_list_threads(p->pid, &tids, &n);
		if (err) {
			pr_err("pid %d: cannot list its threads: %s", p->pid, strerror(-err));
			goto out;
		}
		fresh = 0;
		for (size_t i = 0; i < n; i++) {
			if (is_seized(t, tids[i]))
				continue;
			err = rsys_seize(tids[i]);
			if (err == -ESRCH && tids[i] != p->pid) {
				err = 0; /* the thread exited meanwhile */
				continue;
			}
			if (err) {
				pr_err("pid %d: cannot freeze thread %d: %s", p->pid, tids[i],
				       strerror(-err));
				goto out;
			}
			err = note_seized(t, tids[i]);
			if (err) {
				rsys_detach(tids[i]);
				goto out;
			}
			if (tids[i] == p->pid)
				p->stop_signo = group_stop_signo(tids[i]);
			fresh = 1;
		}
		if (!fresh)
			break;
	}
	if (pass == FREEZE_MAX_PASSES) {
		pr_err("pid %d: thread list never settled while freezing", p->pid);
		err = -EAGAIN;
		goto out;
	}
	/* Re-read once more after the last seize: exited threads drop out. Leader first. */
	p->tids = malloc((n ? n : 1) * sizeof(*p->tids));
	if (!p->tids) {
		err = -ENOMEM;
		goto out;
	}
	p->nr_threads = 0;
	p->tids[p->nr_threads++] = p->pid;
	for (size_t i = 0; i < n; i++)
		if (tids[i] != p->pid && is_seized(t, tids[i]))
			p->tids[p->nr_threads++] = tids[i];
out:
	free(tids);
	return err;
}

static int add_proc(struct pstree *t, pid_t pid, int parent)
{
	struct pproc *n = realloc(t->procs, (t->nr + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	t->procs = n;
	memset(&t->procs[t->nr], 0, sizeof(t->procs[0]));
	t->procs[t->nr].pid = pid;
	t->procs[t->nr].parent = parent;
	t->nr++;
	return 0;
}

/* Where a process keeps which process's object of @type it has (files_of, fs_of), or NULL. */
static int *shared_of(struct pproc *p, int type)
{
	return type == KCMP_FILES ? &p->files_of : type == KCMP_FS ? &p->fs_of : NULL;
}

/*
 * Processes of the tree that share an address space or signal handlers
 * (clone without CLONE_THREAD, vfork) would come back as separate copies:
 * refuse them. An fd table or fs info (cwd, root, umask) shared with the
 * parent (clone(CLONE_FILES), clone(CLONE_FS)) is kept: files_of, fs_of. The
 * same shared by processes that do not share it with their parents is refused.
 */
static int check_sharing(struct pstree *t)
{
	static const struct {
		int type;
		const char *what;
	} kinds[] = {
		{ KCMP_VM, "address space (CLONE_VM)" },
		{ KCMP_FILES, "fd table (CLONE_FILES)" },
		{ KCMP_FS, "cwd/root/umask (CLONE_FS)" },
		{ KCMP_SIGHAND, "signal handlers (CLONE_SIGHAND)" },
	};
	const size_t nk = sizeof(kinds) / sizeof(kinds[0]);

	/* Breadth-first: a parent's files_of and fs_of are known before its children's. */
	for (size_t j = 0; j < t->nr; j++) {
		struct pproc *pj = &t->procs[j];

		pj->files_of = pj->fs_of = (int)j;
		if (pj->parent < 0 || pj->zombie || t->procs[pj->parent].zombie)
			continue;
		for (size_t k = 0; k < nk; k++) {
			struct pproc *pp = &t->procs[pj->parent];
			int *of = shared_of(pj, kinds[k].type);
			long r;

			if (!of)
				continue;
			r = syscall(SYS_kcmp, pp->pid, pj->pid, kinds[k].type, 0, 0);
			if (r < 0) {
				int err = -errno;

				pr_perror("kcmp of pids %d and %d", pp->pid, pj->pid);
				return err;
			}
			if (!r)
				*of = *shared_of(pp, kinds[k].type);
		}
	}
	for (size_t i = 0; i < t->nr; i++)
		for (size_t j = i + 1; j < t->nr && !t->procs[i].zombie; j++)
			for (size_t k = 0; !t->procs[j].zombie && k < nk; k++) {
				struct pproc *pi = &t->procs[i], *pj = &t->procs[j];
				int *oi = shared_of(pi, kinds[k].type),
				    *oj = shared_of(pj, kinds[k].type);
				long r;

				if (oi && *oi == *oj)
					continue; /* shared along clones from a parent: kept */
				r = syscall(SYS_kcmp, pi->pid, pj->pid, kinds[k].type, 0, 0);
				if (r < 0) {
					int err = -errno;

					pr_perror("kcmp of pids %d and %d", pi->pid, pj->pid);
					return err;
				}
				if (r)
					continue;
				pr_err("pid %d: pids %d and %d share their %s%s; not supported",
				       pj->pid, pi->pid, pj->pid, kinds[k].what,
				       oi ? " but not with their parents" : "");
				return -ENOTSUP;
			}
	return 0;
}

/* Take zombie @p (its stat @st) into the tree as it is: nothing to seize, no children. */
static int add_zombie(struct pproc *p, const struct proc_stat *st)
{
	p->tids = malloc(sizeof(*p->tids));
	if (!p->tids)
		return -ENOMEM;
	p->tids[0] = p->pid;
	p->nr_threads = 1;
	p->zombie = 1;
	p->exit_code = st->exit_code;
	p->ppid = st->ppid;
	p->pgid = st->pgid;
	p->sid = st->sid;
	pr_info("pid %d: a zombie (wait status %#x), kept as one", p->pid, st->exit_code);
	return 0;
}

int pstree_freeze(struct pstree *t, pid_t root)
{
	return pstree_freeze_flags(t, root, 0);
}

int pstree_freeze_flags(struct pstree *t, pid_t root, unsigned int flags)
{
	struct proc_stat zst;
	int err;

	memset(t, 0, sizeof(*t));
	err = check_proc(root, 0, &zst);
	if (err)
		return err;
	err = add_proc(t, root, -1);
	if (err)
		return err;
	for (size_t i = 0; i < t->nr; i++) {
		struct proc_stat st;
		pid_t *kids = NULL;
		size_t nk = 0;

		if (i) {
			err = check_proc(t->procs[i].pid, !!(flags & PSTREE_ZOMBIES), &zst);
			if (err == 1) {
				err = add_zombie(&t->procs[i], &zst);
				if (err)
					goto fail;
				continue;
			}
			if (err)
				goto fail;
		}
		err = freeze_threads(t, &t->procs[i]);
		if (err)
			goto fail;
		/* Frozen now: its ids and children cannot change any more. */
		err = proc_parse_stat(t->procs[i].pid, 0, &st);
		if (err) {
			pr_err("pid %d: cannot read its stat: %s", t->procs[i].pid, strerror(-err));
			goto fail;
		}
		t->procs[i].ppid = st.ppid;
		t->procs[i].pgid = st.pgid;
		t->procs[i].sid = st.sid;
		err = proc_list_children(t->procs[i].pid, &kids, &nk);
		if (err) {
			pr_err("pid %d: cannot list its children: %s", t->procs[i].pid,
			       strerror(-err));
			goto fail;
		}
		for (size_t k = 0; k < nk && !err; k++)
			err = add_proc(t, kids[k], (int)i);
		free(kids);
		if (err)
			goto fail;
	}
	err = check_sharing(t);
	if (err)
		goto fail;
	pr_info("froze %zu process(es), %zu thread(s) under pid %d", t->nr, t->nr_seized, root);
	return 0;
fail:
	pstree_release(t);
	pstree_free(t);
	return err;
}

int pstree_release(struct pstree *t)
{
	int err = 0;

	for (size_t i = t->nr_seized; i-- > 0;) {
		int e = rsys_detach(t->seized[i]);

		if (e && e != -ESRCH && !err)
			err = e;
	}
	t->nr_seized = 0;
	return err;
}

int pstree_kill(struct pstree *t)
{
	int err = 0;

	for (size_t i = 0; i < t->nr; i++)
		if (kill(t->procs[i].pid, SIGKILL) && errno != ESRCH) {
			err = -errno;
			pr_perror("pid %d: cannot kill", t->procs[i].pid);
		}
	/* A killed tracee leaves its ptrace stop by itself; detaching may race with that. */
	for (size_t i = t->nr_seized; i-- > 0;)
		ptrace(PTRACE_DETACH, t->seized[i], NULL, NULL);
	/*
	 * A tracee that died before the detach is reported to us, its tracer,
	 * first: its parent cannot reap it until we did (or exited). Collect
	 * those exits (briefly: a killed thread exits at once).
	 */
	for (size_t i = t->nr_seized; i-- > 0;) {
		for (int k = 0; k < 400; k++) {
			int st = 0;
			pid_t r = waitpid(t->seized[i], &st, __WALL | WNOHANG);

			if (r < 0 ? errno != EINTR : r > 0 && (WIFEXITED(st) || WIFSIGNALED(st)))
				break;
			usleep(5000);
		}
	}
	t->nr_seized = 0;
	return err;
}

void pstree_free(struct pstree *t)
{
	for (size_t i = 0; i < t->nr; i++)
		free(t->procs[i].tids);
	free(t->procs);
	free(t->seized);
	memset(t, 0, sizeof(*t));
}
