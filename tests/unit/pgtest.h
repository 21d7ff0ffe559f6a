/*
 * pgtest.h — a fresh PostgreSQL schema per unit test, on the cluster that
 * scripts/run-tests starts for the whole run (SHORTY_TEST_PG, a libpq URI;
 * tests/suites/lib/pgcluster.sh). Header-only, for the test binaries that
 * run their suites on PostgreSQL too.
 *
 * pgtest_open_schema() creates schema NAME and gives the store URL whose
 * connections live in it (libpq's `options=-csearch_path=NAME`), so every
 * test starts from an empty database without a cluster of its own.
 * When SHORTY_TEST_PG is unset the binary must FAIL (pgtest_required),
 * never skip: `make test` always runs the PostgreSQL half.
 */
#ifndef SHORTY_PGTEST_H
#define SHORTY_PGTEST_H

#include <libpq-fe.h>

#include "store/pqload.h" /* through the table: libpq is loaded, not linked */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The cluster's URI, or NULL with a message saying how to get one. */
static inline const char *pgtest_required(void)
{
	const char *u = getenv("SHORTY_TEST_PG");

	if (u && *u)
		return u;
	fprintf(stderr, "SHORTY_TEST_PG is not set: the PostgreSQL half of this suite cannot "
	                "run. Run it through `make test` (scripts/run-tests starts a cluster), "
	                "or start one with tests/suites/lib/pgcluster.sh start DIR and export "
	                "SHORTY_TEST_PG=<the URI it prints>\n");
	return NULL;
}

static inline void pgtest_quiet(void *arg, const char *msg)
{
	(void)arg, (void)msg; /* "drop cascades to ..." */
}

/* Runs sql on the cluster (outside any schema); true when it succeeded. */
static inline bool pgtest_exec(const char *sql)
{
	const char *u = getenv("SHORTY_TEST_PG");
	PGconn *c;
	PGresult *r;
	bool ok;

	if (!u)
		return false;
	c = PQconnectdb(u);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pgtest: %s", PQerrorMessage(c));
		PQfinish(c);
		return false;
	}
	PQsetNoticeProcessor(c, pgtest_quiet, NULL);
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "pgtest: %s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	return ok;
}

/* A new empty schema named "<prefix>_<pid>_<seq>" in name (64 bytes) and
 * the store URL that lives in it in url. */
static inline bool pgtest_open_schema(const char *prefix, char name[64], char *url, size_t urlsz)
{
	static int seq;
	const char *u = getenv("SHORTY_TEST_PG");
	char sql[256];

	if (!u)
		return false;
	snprintf(name, 64, "%s_%d_%d", prefix, (int)getpid(), ++seq);
	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", name, name);
	if (!pgtest_exec(sql))
		return false;
	snprintf(url, urlsz, "%s%soptions=-csearch_path%%3D%s", u, strchr(u, '?') ? "&" : "?", name);
	return true;
}

static inline void pgtest_drop_schema(const char *name)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", name);
	(void)pgtest_exec(sql);
}

#endif
