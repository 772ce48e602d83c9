/* SPDX-License-Identifier: MIT */
/*
 * The destination's copy of the source's pre-dump chain. Each iteration
 * section becomes a directory round-K of the images directory holding the
 * round's pagemap-PID.img (sent as an Image, with the source's PE_PARENT
 * runs) and a pages-ID.img written from the section's Pages as they arrive,
 * with a "parent" link to round-(K-1); the final section is the images
 * directory itself, linked to the last round. A page sent again in a later
 * round shadows the earlier copy, as in any pre-dump chain, and the restore
 * reads through the chain: nothing is copied again once the source is
 * frozen.
 *
 * The pages of each process must arrive in the order of the present runs of
 * the pagemap it was sent with (the order the source reads them): a page at
 * another address, a page too many or one missing at the section's end is
 * refused, with the pid and the addresses.
 */
#ifndef FERRY_MIGRATE_LEVELS_H
#define FERRY_MIGRATE_LEVELS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "migrate_copies.h"

struct mlevel_run {
	uint64_t vaddr, nr;
};

struct mlevel_proc {
	pid_t pid;
	int pages_fd;
	struct mlevel_run *runs; /* the PE_PRESENT runs, in order */
	size_t nr_runs, cur;	 /* the run the next page belongs to */
	uint64_t in_run;	 /* pages of runs[cur] received */
	uint64_t off;		 /* bytes of the pages file written (holes for zero pages) */
	uint32_t copy_file;	 /* its pages file in l->copies */
};

struct mlevel {
	int dirfd;     /* the level's directory */
	char name[64]; /* its name inside the images directory ("." for the final) */
	struct mlevel_proc *procs;
	size_t nr_procs;
	uint64_t pages, zero_pages, xbzrle_pages;
	struct mcopies *copies; /* with XBZRLE: where the latest copy of each page is; or NULL */
	int remote;		/* post-copy: its pages stay at the source, none is expected */
	uint64_t remote_pages;	/* set by mlevel_close when remote: pages its pagemaps hold */
};

/*
 * mlevel_open - level @name (a new directory "round-K", or "." for the
 * images directory itself) in @dirfd, linked to @parent ("round-K", NULL
 * for none). With @copies (XBZRLE) every page it receives is indexed there.
 * Returns 0 or -errno (logged with @dir).
 */
int mlevel_open(struct mlevel *l, int dirfd, const char *dir, const char *name, const char *parent,
		struct mcopies *copies);
/*
 * mlevel_image - write image @name (@len bytes at @data) into the level; a
 * pagemap-PID.img is also read for the runs its pages will fill, and its
 * pages file is created. Returns 0, -EEXIST for a name sent twice, -EINVAL
 * for a pagemap that does not parse, or -errno.
 */
int mlevel_image(struct mlevel *l, const char *name, const void *data, size_t len);
/* mlevel_page - page @addr of @pid: 4096 bytes at @data, or zeros (@data NULL). */
int mlevel_page(struct mlevel *l, pid_t pid, uint64_t addr, const void *data);
/*
 * mlevel_page_xbzrle - page @addr of @pid as the XBZRLE @delta (@len octets,
 * checked by the decoder) applied to the latest copy received of it (an
 * earlier round). -EPROTO if there is none or the delta does not apply.
 */
int mlevel_page_xbzrle(struct mlevel *l, pid_t pid, uint64_t addr, const uint8_t *delta,
		       size_t len);
/*
 * mlevel_close - check that every page of every pagemap came (unless the
 * level is remote: then count them), close the files.
 */
int mlevel_close(struct mlevel *l);
/* mlevel_free - close what is open (after an error too). */
void mlevel_free(struct mlevel *l);

#endif
