// SPDX-License-Identifier: MIT
/*
 * The restore side's image loader, per process (see images.h): pstree.img
 * (the tree, its pids and tids), core-TID.img of every thread, the task's
 * kernel object ids and fs-PID.img.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define LOG_PREFIX "rimg: "
#include "images.h"
#include "images_priv.h"
#include "img.h"
#include "log.h"
#include "pstree.pb-c.h"
#include "seccomp.pb-c.h"
#include "timers.h"

#define TASK_DEAD 2 /* CRIU's task_core_entry.task_state */

/* ---- pstree ----------------------------------------------------------------------------- */

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return x < y ? -1 : x > y;
}

/* The first value of sorted @v that appears twice, or 0. */
static pid_t first_dup(pid_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_pid);
	for (size_t i = 1; i < n; i++)
		if (v[i] == v[i - 1])
			return v[i];
	return 0;
}

static int add_proc(struct rimg *r, const PstreeEntry *e, size_t *cap)
{
	struct rimg_proc *p;

	if (r->nr_procs == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;

		p = realloc(r->procs, nc * sizeof(*p));
		if (!p)
			return -ENOMEM;
		r->procs = p;
		*cap = nc;
	}
	p = &r->procs[r->nr_procs];
	memset(p, 0, sizeof(*p));
	p->parent = -1;
	p->threads = calloc(e->n_threads, sizeof(*p->threads));
	if (!p->threads)
		return -ENOMEM;
	r->nr_procs++;
	p->pid = (pid_t)e->pid;
	p->ppid = (pid_t)e->ppid;
	p->pgid = (pid_t)e->pgid;
	p->sid = (pid_t)e->sid;
	p->nr_threads = e->n_threads;
	for (size_t k = 0; k < e->n_threads; k++)
		p->threads[k].tid = (pid_t)e->threads[k];
	return 0;
}

/* Every process has a parent in the tree, and following parents ends at the root. */
static int link_tree(struct rimg *r)
{
	for (size_t i = 1; i < r->nr_procs; i++) {
		struct rimg_proc *p = &r->procs[i];

		for (size_t k = 0; k < r->nr_procs; k++)
			if (k != i && r->procs[k].pid == p->ppid)
				p->parent = (int)k;
		if (p->parent < 0) {
			pr_err("%s/pstree.img: pid %d: parent pid %d is not in the tree", r->dir,
			       p->pid, p->ppid);
			return -EINVAL;
		}
	}
	for (size_t i = 1; i < r->nr_procs; i++) {
		int at = (int)i;
		size_t steps = 0;

		while (at > 0 && steps++ <= r->nr_procs)
			at = r->procs[at].parent;
		if (at != 0) {
			pr_err("%s/pstree.img: pid %d: its parents form a cycle that misses the root pid %d",
			       r->dir, r->procs[i].pid, r->procs[0].pid);
			return -EINVAL;
		}
	}
	return 0;
}

int rimg_load_pstree(struct rimg *r)
{
	ProtobufCMessage *m = NULL;
	pid_t *pids = NULL, *tids = NULL;
	size_t cap = 0, nt = 0;
	struct img *img;
	pid_t dup;
	int err;

	err = rimg_open_img(r, "pstree.img", IMG_PSTREE, 1, &img);
	if (err)
		return err;
	for (;;) {
		size_t at = img_offset(img);
		PstreeEntry *e;

		err = img_read_entry(img, &m);
		if (err <= 0)
			break;
		err = 0;
		e = (PstreeEntry *)m;
		if (!e->pid || e->pid > INT32_MAX) {
			pr_err("%s: offset %zu: invalid pid %u", img_name(img), at, e->pid);
			err = -EINVAL;
			break;
		}
		if (!e->n_threads || e->threads[0] != e->pid) {
			pr_err("%s: offset %zu: pid %u: the first thread is %d, not the pid",
			       img_name(img), at, e->pid, e->n_threads ? (int)e->threads[0] : -1);
			err = -EINVAL;
			break;
		}
		for (size_t k = 0; k < e->n_threads; k++) {
			if (!e->threads[k] || e->threads[k] > INT32_MAX) {
				pr_err("%s: offset %zu: pid %u: invalid tid %u", img_name(img), at,
				       e->pid, e->threads[k]);
				err = -EINVAL;
			}
		}
		if (err)
			break;
		err = add_proc(r, e, &cap);
		if (err)
			break;
		nt += e->n_threads;
		rimg_msg_free(m);
		m = NULL;
	}
	if (err < 0)
		goto out;
	err = -EINVAL;
	if (!r->nr_procs) {
		pr_err("%s: no process", img_name(img));
		goto out;
	}
	err = -ENOMEM;
	pids = calloc(r->nr_procs, sizeof(*pids));
	tids = calloc(nt, sizeof(*tids));
	if (!pids || !tids)
		goto out;
	nt = 0;
	for (size_t i = 0; i < r->nr_procs; i++) {
		pids[i] = r->procs[i].pid;
		for (size_t k = 0; k < r->procs[i].nr_threads; k++)
			tids[nt++] = r->procs[i].threads[k].tid;
	}
	err = -EINVAL;
	dup = first_dup(pids, r->nr_procs);
	if (dup) {
		pr_err("%s: pid %d appears twice", img_name(img), dup);
		goto out;
	}
	dup = first_dup(tids, nt);
	if (dup) {
		pr_err("%s: tid %d appears twice", img_name(img), dup);
		goto out;
	}
	err = link_tree(r);
out:
	rimg_msg_free(m);
	free(pids);
	free(tids);
	img_close(img);
	return err;
}

/* ---- cores ------------------------------------------------------------------------------ */

/*
 * A thread under seccomp: ferry restore installs no filter, and a restored
 * task that ran confined must not run unconfined.
 */
static int check_seccomp_mode(const struct rimg *r, const char *name, const struct rimg_proc *p,
			      const struct rimg_thread *t)
{
	const CoreEntry *c = t->core;
	int mode = 0;

	if (c->thread_core && c->thread_core->has_seccomp_mode)
		mode = c->thread_core->seccomp_mode;
	else if (c->tc && c->tc->has_old_seccomp_mode) /* older CRIU: per task */
		mode = c->tc->old_seccomp_mode;
	if (mode == SECCOMP_MODE__disabled)
		return 0;
	pr_err("%s/%s: pid %d tid %d runs under seccomp (mode %s): ferry restore installs no seccomp filter",
	       r->dir, name, p->pid, t->tid, rimg_enum_name(&seccomp_mode__descriptor, mode));
	return -EOPNOTSUPP;
}

/* Does signal @sig end a process by default (so that a zombie can have died of it)? */
static int kills(int sig)
{
	static const int spared[] = { SIGCHLD, SIGCONT, SIGURG,	 SIGWINCH,
				      SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU };

	if (sig <= 0 || sig >= SIGRTMIN)
		return sig >= SIGRTMIN && sig <= SIGRTMAX;
	for (size_t i = 0; i < sizeof(spared) / sizeof(spared[0]); i++)
		if (sig == spared[i])
			return 0;
	return 1;
}

/*
 * A zombie's core (CRIU's: TASK_DEAD, the wait status in exit_code, no
 * thread state). A wait status the kernel cannot give (not an exit code,
 * not a signal) is refused.
 */
static int load_zombie(struct rimg *r, const char *name, struct rimg_proc *p)
{
	uint32_t st = p->threads[0].core->tc->exit_code;

	if (p->nr_threads != 1 || p->parent < 0) {
		pr_err("%s/%s: pid %d is dead (TASK_DEAD) but %s", r->dir, name, p->pid,
		       p->parent < 0 ? "it is the root of the tree"
				     : "pstree.img gives it threads");
		return -EINVAL;
	}
	if (st > 0xffff || (!WIFEXITED(st) && !WIFSIGNALED(st)) ||
	    (WIFSIGNALED(st) && !kills(WTERMSIG(st)))) {
		pr_err("%s/%s: pid %d: wait status %#x of the zombie is no exit status", r->dir,
		       name, p->pid, st);
		return -EINVAL;
	}
	for (size_t i = 0; i < r->nr_procs; i++)
		if (r->procs[i].parent == (int)(p - r->procs)) {
			pr_err("%s/%s: pid %d is dead (TASK_DEAD) but pid %d is its child", r->dir,
			       name, p->pid, r->procs[i].pid);
			return -EINVAL;
		}
	p->zombie = 1;
	p->exit_code = (int)st;
	return 0;
}

int rimg_load_core(struct rimg *r, struct rimg_proc *p, struct rimg_thread *t, int leader)
{
	ProtobufCMessage *m = NULL;
	char name[64];
	CoreEntry *c;
	int err;

	snprintf(name, sizeof(name), IMG_CORE->file, (unsigned int)t->tid);
	err = rimg_read_single(r, name, IMG_CORE, &m);
	if (err) {
		if (err == -ENOENT)
			pr_err("pid %d tid %d: %s/%s is missing", p->pid, t->tid, r->dir, name);
		return err;
	}
	c = t->core = (CoreEntry *)m;
	if (leader && c->tc && c->tc->task_state == TASK_DEAD)
		return load_zombie(r, name, p);
	if (c->mtype != CORE_ENTRY__MARCH__X86_64) {
		pr_err("%s/%s: pid %d tid %d: architecture %s (%d), only x86_64 is supported",
		       r->dir, name, p->pid, t->tid,
		       rimg_enum_name(&core_entry__march__descriptor, c->mtype), c->mtype);
		return -EINVAL;
	}
	if (!c->thread_info || !c->thread_info->gpregs || !c->thread_info->fpregs) {
		pr_err("%s/%s: pid %d tid %d: no thread_info with gpregs and fpregs", r->dir, name,
		       p->pid, t->tid);
		return -EINVAL;
	}
	if (leader && !c->tc) {
		pr_err("%s/%s: pid %d: the leader's core has no tc", r->dir, name, p->pid);
		return -EINVAL;
	}
	if (leader) {
		err = rtimers_check(r->dir, name, p, c->tc->timers);
		if (err)
			return err;
	}
	return check_seccomp_mode(r, name, p, t);
}

/* ---- ids and fs ------------------------------------------------------------------------- */

/* The leader's core ids (ferry's dumps), else ids-PID.img (CRIU 4.x's). */
int rimg_load_ids(struct rimg *r, struct rimg_proc *p)
{
	char name[64];
	int err;

	p->ids = p->threads[0].core->ids;
	if (p->ids)
		return 0;
	snprintf(name, sizeof(name), IMG_IDS->file, (unsigned int)p->pid);
	err = rimg_read_single(r, name, IMG_IDS, &p->ids_img);
	if (err) {
		if (err == -ENOENT)
			pr_err("pid %d: the leader's core has no ids and %s/%s is missing", p->pid,
			       r->dir, name);
		return err;
	}
	p->ids = (const TaskKobjIdsEntry *)p->ids_img;
	return 0;
}

int rimg_load_fs(struct rimg *r, struct rimg_proc *p)
{
	ProtobufCMessage *m = NULL;
	char name[64];
	int err;

	snprintf(name, sizeof(name), IMG_FS->file, (unsigned int)p->pid);
	err = rimg_read_single(r, name, IMG_FS, &m);
	if (err)
		return err;
	p->fs = (FsEntry *)m;
	err = rimg_check_file_ref(r, p, name, "cwd", p->fs->cwd_id);
	if (!err)
		err = rimg_check_file_ref(r, p, name, "root", p->fs->root_id);
	return err;
}
