/* SPDX-License-Identifier: MIT */
/*
 * The local page source: pages read from the images directory's pages files
 * (through the pre-dump chain), as indexed by rimg_load(). Requests complete
 * inside submit(); there is nothing to poll. The page server serves its
 * clients from one of these.
 */
#ifndef FERRY_PAGE_SOURCE_LOCAL_H
#define FERRY_PAGE_SOURCE_LOCAL_H

#include <stdint.h>
#include <sys/types.h>

#include "page_source.h"

struct rimg;

/*
 * page_source_local_open - a page source over @r, which stays the caller's
 * and must outlive the source. Returns 0 with *@out, or -ENOMEM.
 *
 * A request completes with ->err = 0, -ENOENT (the pid is not in the dump, or
 * a page of the range is in no run of its memory index or in one without
 * data, i.e. neither PE_PRESENT nor PE_PARENT), -EINVAL (nr out of
 * 1..PS_MAX_REQ_PAGES, address not page aligned), -EIO (a pages file shorter
 * than the index says), or the -errno of pread; each logged with pid and
 * address.
 */
int page_source_local_open(struct page_source **out, const struct rimg *r);

/*
 * page_source_local_read - read @nr pages of dumped process @pid from
 * dump-time address @addr into @buf, now, without logging (the caller knows
 * the context to report). @s must come from page_source_local_open().
 * Returns 0; -ESRCH if @pid is not in the dump; -ENOENT if a page is not in it
 * (*@missing is its address); -EINVAL for a bad range or a source of another
 * kind; -EIO if a pages file is shorter than the index says (*@missing is the
 * page); or the -errno of pread.
 */
int page_source_local_read(struct page_source *s, pid_t pid, uint64_t addr, uint32_t nr, void *buf,
			   uint64_t *missing);

#endif
