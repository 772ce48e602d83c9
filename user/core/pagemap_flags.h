/* SPDX-License-Identifier: MIT */
/*
 * pagemap_entry.flags, as CRIU's PE_* (criu/include/pagemap.h).
 *
 * PE_PRESENT: the pages are in this image set's pages-N.img, in pagemap order.
 * PE_PARENT: the pages are unchanged since the parent (pre-dump) image set;
 *            look them up through the "parent" symlink.
 * PE_LAZY: the pages are not stored; a lazy-pages server provides them.
 */
#ifndef FERRY_PAGEMAP_FLAGS_H
#define FERRY_PAGEMAP_FLAGS_H

#define PE_PARENT (1u << 0)
#define PE_LAZY (1u << 1)
#define PE_PRESENT (1u << 2)

#endif
