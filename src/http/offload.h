/*
 * offload.h — a small pool of threads that run what may wait on a remote
 * store (PostgreSQL), so that an HTTP loop never does (engine.c hands its
 * requests here; see there and docs/architecture.md). Jobs are intrusive:
 * the caller embeds an offload_job in what it queues.
 */
#ifndef SHORTY_HTTP_OFFLOAD_H
#define SHORTY_HTTP_OFFLOAD_H

#include <stdbool.h>

#include "shorty/err.h"

typedef struct offload offload;

typedef struct offload_job {
	struct offload_job *next;
	void (*run)(struct offload_job *j); /* set by the caller */
} offload_job;

/* Starts `threads` threads named "<prefix>-N" that call j->run(j) for each
 * job submitted, in order of submission. 0, or SH_E* with err. */
int offload_start(offload **out, unsigned threads, const char *prefix, sh_err *err);

/* Queues j (never blocks, never fails). */
void offload_submit(offload *o, offload_job *j);

/* Runs every job still queued, waits for those running, ends the threads
 * and frees the pool. NULL: nothing. */
void offload_stop(offload *o);

/* True on a thread of any pool (a job runs what it is given inline). */
bool offload_on_thread(void);

#endif
