/* SPDX-License-Identifier: MIT */
/*
 * TCP_REPAIR: an established TCP connection taken out of one socket and put
 * into a new one without the peer noticing (CRIU's --tcp-established).
 *
 * Dump: the socket (ferry's copy, taken with pidfd_getfd while the tree is
 * frozen and the connection is locked, see netlock.h) is put in repair mode,
 * where it sends nothing (no ACK, no FIN, no RST even when closed), and the
 * kernel tells: the sequence number at the end of each queue (TCP_QUEUE_SEQ
 * under TCP_REPAIR_QUEUE), the bytes of both queues (MSG_PEEK in repair mode
 * reads the chosen queue, the send queue included), how much of the send
 * queue was never sent (SIOCOUTQNSD), the options agreed at the handshake
 * (TCP_INFO: SACK, timestamps, window scales; TCP_MAXSEG: the MSS clamp), the
 * timestamp clock (TCP_TIMESTAMP) and the window (TCP_REPAIR_WINDOW).
 *
 * Restore: a new socket in repair mode is bound to the old local address
 * (repair mode forces SO_REUSEADDR, even against a listener on the port), its
 * queue sequences set to where the queues began, connect()ed (no handshake in
 * repair mode: the socket is ESTABLISHED at once), the receive queue and the
 * sent-but-unacked part of the send queue written in repair mode (they become
 * queued data, not transmissions), the options, timestamp and window set;
 * the never-sent rest of the send queue is written out of repair mode, as
 * ordinary data.
 *
 * Only ESTABLISHED connections are handled: half-closed ones need a FIN
 * forged from a raw socket (CRIU does it with libnet); they are refused
 * (-EOPNOTSUPP), named by the caller.
 */
#ifndef FERRY_TCP_REPAIR_H
#define FERRY_TCP_REPAIR_H

#include <stdint.h>
#include <sys/socket.h>

/* A queue larger than this is refused as corrupt (the kernel's tcp_wmem/rmem max is 4-6 MiB). */
#define TCP_REPAIR_MAX_QUEUE (64u << 20)

struct tcp_repair_state {
	/* The connection: local (src) and remote (dst) address, AF_INET or AF_INET6. */
	struct sockaddr_storage src, dst;
	uint8_t tcp_state; /* TCP_ESTABLISHED */
	/* Sequence numbers at the end of the queues: rcv_nxt and write_seq. */
	uint32_t inq_seq, outq_seq;
	uint32_t inq_len;    /* received, not read by the program (SIOCINQ) */
	uint32_t outq_len;   /* written by the program, not acked by the peer (SIOCOUTQ) */
	uint32_t unsq_len;   /* of outq_len, the tail never sent (SIOCOUTQNSD) */
	uint8_t *inq, *outq; /* the bytes (malloc'd; NULL when the length is 0) */
	uint32_t opt_mask;   /* TCPI_OPT_* */
	uint32_t snd_wscale, rcv_wscale, mss_clamp;
	uint32_t timestamp; /* with TCPI_OPT_TIMESTAMPS */
	int has_window;	    /* TCP_REPAIR_WINDOW was read */
	uint32_t snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup;
	/*
	 * SO_SNDBUF/SO_RCVBUF as getsockopt gives them (CRIU: sk_opts_entry).
	 * Restore sets them with SO_*BUFFORCE, raised if the queues would not
	 * fit (which, as CRIU's, fixes the sizes: no more autotuning).
	 */
	uint32_t sndbuf, rcvbuf;
	int reuseaddr; /* SO_REUSEADDR, which repair mode overrides */
	/* Socket options of the stream (CRIU: inet_sk_entry.tcp_opts). */
	int nodelay, cork;
	uint32_t keepcnt, keepidle, keepintvl;
};

/*
 * tcp_repair_on / tcp_repair_off - put @fd in repair mode / take it out
 * (out: the kernel sends a window probe, so the peer learns the window
 * again). Return 0 or -errno (-EPERM without CAP_NET_ADMIN).
 */
int tcp_repair_on(int fd);
int tcp_repair_off(int fd);

/*
 * tcp_repair_leave - take @fd out of repair mode without the window probe
 * (nothing leaves the socket: the dump goes on with the tree frozen and the
 * connection locked), and give it back SO_REUSEADDR if @reuseaddr (leaving
 * repair mode clears it). Returns 0 or -errno.
 */
int tcp_repair_leave(int fd, int reuseaddr);

/*
 * tcp_repair_dump - put the socket @fd in repair mode and read its connection
 * into @st (the queues malloc'd: free with tcp_repair_state_free()). @fd is
 * left in repair mode, also on error if it was put there (the caller turns
 * it off, or closes the socket: closing in repair mode sends nothing).
 * Returns 0, -EOPNOTSUPP if the connection is not ESTABLISHED, -EPROTO if a
 * queue changed under the read (the connection was not locked), -ENOMEM,
 * or the -errno of the failing call (logged with fd and the call).
 */
int tcp_repair_dump(int fd, struct tcp_repair_state *st);

/*
 * tcp_repair_restore - a new socket holding the connection @st, still in
 * repair mode (tcp_repair_off() lets it talk: do it after the rest of the
 * process is back, before the network is unlocked). *@fdp is the socket.
 * Returns 0, -EINVAL for a state that does not hold together, -EOPNOTSUPP
 * for a state other than ESTABLISHED, or the -errno of the failing call
 * (logged with the addresses and the call); no socket is left on error.
 */
int tcp_repair_restore(const struct tcp_repair_state *st, int *fdp);

/*
 * tcp_repair_check - whether @st holds together (lengths, window scales,
 * MSS, option bits, addresses of one family). Returns 0 or -EINVAL, with
 * @why set to the reason.
 */
int tcp_repair_check(const struct tcp_repair_state *st, const char **why);

/* tcp_repair_addr_str - "1.2.3.4:80" or "[::1]:80" into @buf (at least 64 bytes). */
const char *tcp_repair_addr_str(const struct sockaddr_storage *a, char *buf, size_t len);

void tcp_repair_state_free(struct tcp_repair_state *st);

#endif
