/* SPDX-License-Identifier: MIT */
/*
 * libbpf's own messages, routed into ferry's log at debug level (-v4), one
 * log message per line of libbpf output.
 */
#ifndef FERRY_BPFLOG_H
#define FERRY_BPFLOG_H

/* bpflog_init - install the libbpf print callback. Idempotent; cannot fail. */
void bpflog_init(void);

#endif
