/*
 * offload.c — the pool of offload.h: a mutex, a condition variable and a
 * FIFO of intrusive jobs. Hand-written because it is thirty lines on
 * pthreads; the jobs are few and each waits on the network, so one queue
 * shared by every thread costs nothing that matters.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "http/offload.h"

struct offload {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	offload_job *head, *tail;
	bool quit;
	unsigned nthreads;
	const char *prefix;
	pthread_t th[];
};

static __thread bool on_pool;

bool offload_on_thread(void)
{
	return on_pool;
}

struct start {
	offload *o;
	unsigned i;
};

static void *pool_main(void *arg)
{
	offload *o = ((struct start *)arg)->o;
	char name[16];

	snprintf(name, sizeof(name), "%s-%u", o->prefix, ((struct start *)arg)->i % 1000u);
	free(arg);
	pthread_setname_np(pthread_self(), name);
	on_pool = true;
	pthread_mutex_lock(&o->lock);
	for (;;) {
		offload_job *j = o->head;
		if (!j) {
			if (o->quit)
				break;
			pthread_cond_wait(&o->cond, &o->lock);
			continue;
		}
		o->head = j->next;
		if (!o->head)
			o->tail = NULL;
		pthread_mutex_unlock(&o->lock);
		j->run(j);
		pthread_mutex_lock(&o->lock);
	}
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

int offload_start(offload **out, unsigned threads, const char *prefix, sh_err *err)
{
	offload *o = calloc(1, sizeof(*o) + threads * sizeof(pthread_t));

	*out = NULL;
	if (!o)
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->cond, NULL);
	o->prefix = prefix;
	for (unsigned i = 0; i < threads; i++) {
		struct start *s = malloc(sizeof(*s));
		if (s)
			*s = (struct start){o, i};
		if (!s || pthread_create(&o->th[i], NULL, pool_main, s) != 0) {
			free(s);
			offload_stop(o);
			return sh_err_set(err, SH_ENOMEM, NULL, "cannot start the store threads");
		}
		o->nthreads++;
	}
	*out = o;
	return 0;
}

void offload_submit(offload *o, offload_job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&o->lock);
	if (o->tail)
		o->tail->next = j;
	else
		o->head = j;
	o->tail = j;
	pthread_cond_signal(&o->cond);
	pthread_mutex_unlock(&o->lock);
}

void offload_stop(offload *o)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->lock);
	o->quit = true; /* the threads end once the queue is empty */
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
	for (unsigned i = 0; i < o->nthreads; i++)
		pthread_join(o->th[i], NULL);
	pthread_mutex_destroy(&o->lock);
	pthread_cond_destroy(&o->cond);
	free(o);
}
