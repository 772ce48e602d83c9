/* SPDX-License-Identifier: MIT */
/* What the sender's files share (migrate_send.c, migrate_stream.c). */
#ifndef FERRY_MIGRATE_PRIV_H
#define FERRY_MIGRATE_PRIV_H

#include <stdint.h>
#include <sys/types.h>

#include "migrate.h"
#include "migrate_cache.h"
#include "migrate_wire.h"

/* A memory area declared to the destination: [start, end) of process pid. */
struct msend_area {
	uint64_t id;
	pid_t pid;
	uint64_t start, end;
};

/* What one section sent. */
struct msend_stats {
	uint64_t bytes;	       /* octets of the section, header to end mark */
	uint64_t full;	       /* pages sent with their data */
	uint64_t zero;	       /* pages sent as zero runs */
	uint64_t xbzrle;       /* pages sent as XBZRLE deltas */
	uint64_t xbzrle_bytes; /* octets of those deltas */
	uint64_t images;       /* image octets */
	uint64_t send_us;
};

struct msend {
	const struct migrate_opts *o;
	struct mig_conn c;
	struct msend_area *areas;
	size_t nr_areas, cap_areas;
	uint64_t items; /* PDUs in the open section */
	pid_t *pids;	/* the tree, as the last round listed it */
	size_t nr_pids;
	struct msend_stats st;
	int xbzrle;	     /* the destination takes XBZRLE deltas: the cache is in use */
	struct mcache cache; /* pages sent, for the deltas */
	/* --max-bandwidth: the section's pace is counted from here */
	uint64_t t_pace, pace_sent;
};

/* msend_interrupted - -EINTR (said) if SIGINT, SIGTERM or SIGHUP is pending, else 0. */
int msend_interrupted(void);
/* msend_section - open a section (header sent, counters reset). */
int msend_section(struct msend *s, enum mig_section_kind kind, uint64_t round);
/* msend_postcopy_server - a PostcopyServer item: the page server listens on @port. */
int msend_postcopy_server(struct msend *s, uint32_t port);
/* msend_end - close the open section with its end mark. */
int msend_end(struct msend *s, uint64_t round);
/* msend_tree_areas - declare every VMA of the tree's processes as an area. */
int msend_tree_areas(struct msend *s);
/*
 * msend_dir_pages - send the pages with data of images directory @dir (a
 * pre-dump round or the final dump): the PE_PRESENT runs of each process's
 * pagemap, read from its pages file, in the pagemap's order, each process's
 * pagemap image first and the round's inventory.img last if @with_pagemaps
 * (the destination rebuilds the round as a pre-dump level). Fills s->pids
 * from pstree.img.
 */
int msend_dir_pages(struct msend *s, const char *dir, int with_pagemaps);
/* msend_dir_pids - s->pids from pstree.img of @dir. */
int msend_dir_pids(struct msend *s, const char *dir);
/* msend_dir_images - send every image of @dir but the pages files (and "parent"). */
int msend_dir_images(struct msend *s, const char *dir, int with_pagemaps);

/* The state of the rounds, for the final section (migrate_send.c, migrate_postcopy.c). */
struct mthrottle;

struct mrounds {
	struct msend *s;
	char dir[4096];
	unsigned round;
	int postcopy;	  /* the rounds decided to switch to post-copy */
	double prev_rate; /* the dirty rate of the round before (pages/s) */
	uint64_t t_hold;  /* when its images were published (the tree frozen) */
	uint64_t t_sent;  /* when the final end mark was sent */
	uint64_t final_full, final_zero, final_xbzrle, final_bytes, verdict_us;
	pid_t dest_root;
	/* the destination's part of the downtime, when its Verdict says (DestinationTimes) */
	int dest_times;
	uint64_t dest_section_us, dest_restore_us;
	pid_t pager; /* post-copy: the page server's process, 0 if none */
	int pager_port;
	int pager_fd; /* its pipe: the port, then at its end what it served; -1 if none */
	/* post-copy: pages only the source held (the destination's count), served, for faults */
	uint64_t pc_left, pc_served, pc_fault;
	uint64_t t_pages_in;   /* when the destination said every page is in */
	struct mthrottle *thr; /* --auto-converge, once it acted */
};

/* mrounds_wait_verdict - the destination's Verdict: 0 only if the tree runs there. */
int mrounds_wait_verdict(struct mrounds *r);
/*
 * send_postcopy - dump_opts.hold of a post-copy: start the page server over
 * @dir (a child process), send the postcopy section (the images with their
 * pagemaps, the PostcopyServer, no pages), wait for the verdict.
 */
int send_postcopy(void *arg, const char *dir);
/*
 * postcopy_finish - after the tree was killed: wait until the destination
 * says every page is in (PagesIn) and the page server's session ended.
 * Returns 0 or -errno (logged). postcopy_stop - end the page server (failure paths).
 */
int postcopy_finish(struct mrounds *r);
void postcopy_stop(struct mrounds *r);

#endif
