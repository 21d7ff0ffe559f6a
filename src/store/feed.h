/*
 * feed.h — the backend side of the feed of changes (store.h's
 * store_feed_*; src/store only).
 *
 * As lookups.h does for the lookups: a backend that has a feed (PostgreSQL:
 * a connection of its own that LISTENs) fills a table of these and names it
 * in store.c's table of backends; store_feed_open opens through it and the
 * other wrappers call through the handle's ops. A backend without one
 * (SQLite: one process writes) names none, and store_feed_open gives NULL
 * and 0. Each member means what its wrapper's comment in store.h says.
 */
#ifndef SHORTY_STORE_FEED_H
#define SHORTY_STORE_FEED_H

#include "shorty/store.h"

typedef struct store_feed_ops {
	int (*open)(store_feed **out, const char *url, sh_err *err);
	int (*wait)(store_feed *f, int timeout_ms, store_feed_cb cb, void *ud);
	void (*close)(store_feed *f);
} store_feed_ops;

/* The base every backend's handle starts with (the backend sets ops). */
struct store_feed {
	const store_feed_ops *ops;
};

/* store/postgres.c */
extern const store_feed_ops store_pg_feed_ops;

#endif
