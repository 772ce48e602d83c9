// SPDX-License-Identifier: MIT
/*
 * A zombie of the tree (dead, its parent has not waited for it yet): what
 * is left of it is its pid, its ids and its wait status. CRIU keeps it as a
 * core image whose task core says TASK_DEAD with the wait status in
 * exit_code, and no thread state; the restore makes a process with that pid
 * exit with that status under the same parent, which then finds it waiting.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define LOG_PREFIX "core: "
#include "core.pb-c.h"
#include "dump_core.h"
#include "img.h"
#include "log.h"
#include "proc_parse.h"

#define TASK_DEAD 2 /* CRIU's task_core_entry.task_state */

int dump_core_zombie(const struct pproc *p, int dirfd)
{
	CoreEntry core = CORE_ENTRY__INIT;
	TaskCoreEntry tc = TASK_CORE_ENTRY__INIT;
	struct proc_stat st;
	char name[64], comm[sizeof(st.comm)];
	int err;

	err = proc_parse_stat(p->pid, 0, &st);
	if (err) {
		pr_errno(err, "pid %d: cannot read the stat of the zombie", p->pid);
		return err;
	}
	if (st.state != 'Z') {
		/* Frozen around it, it cannot have been reaped and its pid reused. */
		pr_err("pid %d: was a zombie when the tree was frozen, now in state '%c'", p->pid,
		       st.state);
		return -ESTALE;
	}
	memcpy(comm, st.comm, sizeof(comm));
	comm[sizeof(comm) - 1] = '\0';
	core.mtype = CORE_ENTRY__MARCH__X86_64;
	tc.task_state = TASK_DEAD;
	tc.exit_code = (uint32_t)p->exit_code;
	tc.comm = comm;
	core.tc = &tc;
	snprintf(name, sizeof(name), "core-%d.img", p->pid);
	err = img_write_one(dirfd, name, IMG_CORE, &core.base);
	if (err)
		pr_errno(err, "pid %d: cannot write %s of the zombie", p->pid, name);
	return err;
}
