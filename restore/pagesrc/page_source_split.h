/* SPDX-License-Identifier: MIT */
/*
 * The page source of a post-copy migration's destination: the pages the
 * pre-copy rounds brought are in its images directory's chain already; only
 * the others (the last dirty set, which the postcopy level records without a
 * pages file) are asked from the source's page server. A request that spans
 * both is split: its local pages are read at once, its remote ones asked as
 * sub-requests (urgent if it is), and it completes when the last part does.
 */
#ifndef FERRY_PAGE_SOURCE_SPLIT_H
#define FERRY_PAGE_SOURCE_SPLIT_H

#include <stdint.h>

#include "page_source.h"

struct rimg;

/* What a split source served, for the summary and the tests. */
struct page_source_split_stats {
	uint64_t local_pages;	      /* read from the chain here */
	uint64_t remote_pages;	      /* asked from the page server */
	uint64_t remote_urgent_pages; /* of those, for a fault */
};

/*
 * page_source_split_open - a source over @r (loaded with RIMG_PAGES_OPTIONAL;
 * the caller's, it must outlive the source) and @remote, which it takes
 * (destroyed with it, also on failure). A page whose run's level has a pages
 * file here is read here; any other page is asked from @remote. Returns 0
 * with *@out, or -ENOMEM / the -errno of eventfd.
 */
int page_source_split_open(struct page_source **out, const struct rimg *r,
			   struct page_source *remote);

/* page_source_split_stats - the counts so far; @s must come from page_source_split_open(). */
void page_source_split_stats(const struct page_source *s, struct page_source_split_stats *st);

#endif
