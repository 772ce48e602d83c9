// SPDX-License-Identifier: MIT
/*
 * The preflight of a dump (see dump_check.h): each checker logs every object
 * it refuses and returns -ENOTSUP; here they run on every process of the tree
 * so that a user learns all the blockers from one run, not one at a time.
 */
#include <errno.h>
#include <string.h>

#define LOG_PREFIX "dump: "
#include "dump_attrs.h"
#include "dump_check.h"
#include "dump_core.h"
#include "dump_mm.h"
#include "log.h"

int dump_check_tree(const struct pstree *t, const struct files_dump_opts *fo, size_t *bad)
{
	struct files_dump *files = NULL;
	size_t nbad = 0;
	int err;

	struct files_dump_opts o = *fo;

	o.tree = t;
	err = files_dump_init(&files, &o);
	if (err)
		return err;
	for (size_t i = 0; i < t->nr; i++) {
		const struct pproc *p = &t->procs[i];
		int e[4], refused = 0;

		if (p->zombie)
			continue; /* nothing left of it that a dump could refuse */
		e[0] = files_dump_check(files, p->pid);
		e[1] = dump_mm_check(p->pid);
		e[2] = dump_core_check(p);
		e[3] = dump_attrs_check(p);
		for (size_t k = 0; k < 4; k++) {
			if (e[k] == -ENOTSUP)
				refused = 1;
			else if (e[k] && !err)
				err = e[k];
		}
		nbad += refused;
	}
	files_dump_free(files);
	if (bad)
		*bad = nbad;
	if (err) {
		pr_errno(err, "cannot look at every object of the tree of pid %d",
			 t->nr ? t->procs[0].pid : 0);
		return err;
	}
	if (nbad) {
		pr_err("the tree of pid %d cannot be dumped: %zu of its %zu process(es) hold objects "
		       "ferry does not support, each named above",
		       t->procs[0].pid, nbad, t->nr);
		return -ENOTSUP;
	}
	return 0;
}
