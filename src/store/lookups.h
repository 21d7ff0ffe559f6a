/*
 * lookups.h — the backend side of the lookups that do not wait (store.h's
 * store_lookup_*; src/store only).
 *
 * Like the store's ops (store_ops): a backend that has them fills a table
 * of these and names it in store.c's table of backends; store_lookups_open
 * opens through it and every other store_lookup* wrapper calls through the
 * handle's ops. A backend without them (SQLite: a miss takes microseconds)
 * names none, and store_lookups_open gives NULL and 0. Each member means
 * what its wrapper's comment in store.h says.
 */
#ifndef SHORTY_STORE_LOOKUPS_H
#define SHORTY_STORE_LOOKUPS_H

#include "shorty/store.h"

typedef struct store_lookup_ops {
	/* 0 and a handle that can send, even while the server is away: the
	 * connection is then made by reconnect, when a send asks for it */
	int (*open)(store_lookups **out, const char *url, store_lookup_cb cb, sh_err *err);
	int (*send)(store_lookups *q, int64_t domain_id, int64_t id, const char *code, void *ud);
	int (*reconnect)(store_lookups *q);
	void (*run)(store_lookups *q);
	int (*fd)(const store_lookups *q);
	int (*timeout_ms)(const store_lookups *q);
	unsigned (*inflight)(const store_lookups *q);
	void (*close)(store_lookups *q);
} store_lookup_ops;

/* The base every backend's handle starts with (the backend sets ops). */
struct store_lookups {
	const store_lookup_ops *ops;
};

/* store/postgres.c */
extern const store_lookup_ops store_pg_lookup_ops;

#endif
