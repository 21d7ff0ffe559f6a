/*
 * pqload.h — libpq, loaded when a postgres:// store is first opened
 * (shorty/dynlib.h): a SQLite shorty never maps libpq nor what it pulls in
 * (OpenSSL, Kerberos, LDAP). Included by src/store/postgres.c after
 * <libpq-fe.h>: every PQ* name below becomes a call through the table, so
 * postgres.c reads as plain libpq.
 *
 * store_open() loads it (sh_pq_load) before store_postgres_open, so a
 * missing libpq is one clear error there; a call before that (a test
 * helper) loads it on the spot, or aborts saying why.
 *
 * A libpq function not in SH_PQ_FUNCS fails to link (libpq is not linked):
 * add it to the list. The list holds more than postgres.c calls today (the
 * prepared, pipeline and escaping calls), so that is rarely needed.
 */
#ifndef SHORTY_STORE_PQLOAD_H
#define SHORTY_STORE_PQLOAD_H

#include <libpq-fe.h>

#include "shorty/dynlib.h"

#define SH_PQ_FUNCS(X)                                                                     \
	X(PQbackendPID) X(PQbinaryTuples) X(PQcancel) X(PQclear) X(PQcmdStatus)            \
	X(PQcmdTuples) X(PQconnectPoll) X(PQconnectStart) X(PQconnectStartParams)          \
	X(PQconnectdb) X(PQconnectdbParams) X(PQconsumeInput) X(PQdb) X(PQenterPipelineMode) \
	X(PQerrorMessage) X(PQescapeIdentifier) X(PQescapeLiteral) X(PQescapeStringConn)   \
	X(PQexec) X(PQexecParams) X(PQexecPrepared) X(PQexitPipelineMode) X(PQfformat)     \
	X(PQfinish) X(PQflush) X(PQfname) X(PQfnumber) X(PQfreeCancel) X(PQfreemem)        \
	X(PQftype) X(PQgetCancel) X(PQgetCopyData) X(PQgetResult) X(PQgetisnull)           \
	X(PQgetlength) X(PQgetvalue) X(PQhost) X(PQisBusy) X(PQisnonblocking) X(PQnfields) \
	X(PQnotifies) X(PQntuples) X(PQparameterStatus) X(PQpipelineStatus)                \
	X(PQpipelineSync) X(PQport) X(PQprepare) X(PQputCopyData) X(PQputCopyEnd)          \
	X(PQreset) X(PQresetPoll) X(PQresetStart) X(PQresultErrorField)                    \
	X(PQresultErrorMessage) X(PQresultStatus) X(PQresultVerboseErrorMessage)           \
	X(PQsendDescribePrepared) X(PQsendFlushRequest) X(PQsendPrepare) X(PQsendQuery)    \
	X(PQsendQueryParams) X(PQsendQueryPrepared) X(PQserverVersion)                     \
	X(PQsetErrorVerbosity) X(PQsetNoticeProcessor) X(PQsetSingleRowMode)               \
	X(PQsetnonblocking) X(PQsocket) X(PQstatus) X(PQtransactionStatus) X(PQuser)

/* The table: one pointer per function, of the function's own type. */
struct sh_pq_fns {
#define SH_PQ_SLOT(f) __typeof__(f) *f;
	SH_PQ_FUNCS(SH_PQ_SLOT)
#undef SH_PQ_SLOT
};
extern struct sh_pq_fns sh_pq_fns;
extern sh_dynlib sh_pq_lib;

/* Loads libpq; 0, or SH_EUNAVAIL with a sentence in err. */
int sh_pq_load(sh_err *err);

static inline struct sh_pq_fns *sh_pq(void)
{
	if (!atomic_load_explicit(&sh_pq_lib.loaded, memory_order_acquire))
		sh_dynlib_need(&sh_pq_lib);
	return &sh_pq_fns;
}

/* Every name of the list, through the table (written out from SH_PQ_FUNCS:
 * the preprocessor cannot define macros). Not in pqload.c, which fills the
 * table by the same names. */
#ifndef SH_PQLOAD_FILL
#define PQbackendPID (sh_pq()->PQbackendPID)
#define PQbinaryTuples (sh_pq()->PQbinaryTuples)
#define PQcancel (sh_pq()->PQcancel)
#define PQclear (sh_pq()->PQclear)
#define PQcmdStatus (sh_pq()->PQcmdStatus)
#define PQcmdTuples (sh_pq()->PQcmdTuples)
#define PQconnectPoll (sh_pq()->PQconnectPoll)
#define PQconnectStart (sh_pq()->PQconnectStart)
#define PQconnectStartParams (sh_pq()->PQconnectStartParams)
#define PQconnectdb (sh_pq()->PQconnectdb)
#define PQconnectdbParams (sh_pq()->PQconnectdbParams)
#define PQconsumeInput (sh_pq()->PQconsumeInput)
#define PQdb (sh_pq()->PQdb)
#define PQenterPipelineMode (sh_pq()->PQenterPipelineMode)
#define PQerrorMessage (sh_pq()->PQerrorMessage)
#define PQescapeIdentifier (sh_pq()->PQescapeIdentifier)
#define PQescapeLiteral (sh_pq()->PQescapeLiteral)
#define PQescapeStringConn (sh_pq()->PQescapeStringConn)
#define PQexec (sh_pq()->PQexec)
#define PQexecParams (sh_pq()->PQexecParams)
#define PQexecPrepared (sh_pq()->PQexecPrepared)
#define PQexitPipelineMode (sh_pq()->PQexitPipelineMode)
#define PQfformat (sh_pq()->PQfformat)
#define PQfinish (sh_pq()->PQfinish)
#define PQflush (sh_pq()->PQflush)
#define PQfname (sh_pq()->PQfname)
#define PQfnumber (sh_pq()->PQfnumber)
#define PQfreeCancel (sh_pq()->PQfreeCancel)
#define PQfreemem (sh_pq()->PQfreemem)
#define PQftype (sh_pq()->PQftype)
#define PQgetCancel (sh_pq()->PQgetCancel)
#define PQgetCopyData (sh_pq()->PQgetCopyData)
#define PQgetResult (sh_pq()->PQgetResult)
#define PQgetisnull (sh_pq()->PQgetisnull)
#define PQgetlength (sh_pq()->PQgetlength)
#define PQgetvalue (sh_pq()->PQgetvalue)
#define PQhost (sh_pq()->PQhost)
#define PQisBusy (sh_pq()->PQisBusy)
#define PQisnonblocking (sh_pq()->PQisnonblocking)
#define PQnfields (sh_pq()->PQnfields)
#define PQnotifies (sh_pq()->PQnotifies)
#define PQntuples (sh_pq()->PQntuples)
#define PQparameterStatus (sh_pq()->PQparameterStatus)
#define PQpipelineStatus (sh_pq()->PQpipelineStatus)
#define PQpipelineSync (sh_pq()->PQpipelineSync)
#define PQport (sh_pq()->PQport)
#define PQprepare (sh_pq()->PQprepare)
#define PQputCopyData (sh_pq()->PQputCopyData)
#define PQputCopyEnd (sh_pq()->PQputCopyEnd)
#define PQreset (sh_pq()->PQreset)
#define PQresetPoll (sh_pq()->PQresetPoll)
#define PQresetStart (sh_pq()->PQresetStart)
#define PQresultErrorField (sh_pq()->PQresultErrorField)
#define PQresultErrorMessage (sh_pq()->PQresultErrorMessage)
#define PQresultStatus (sh_pq()->PQresultStatus)
#define PQresultVerboseErrorMessage (sh_pq()->PQresultVerboseErrorMessage)
#define PQsendDescribePrepared (sh_pq()->PQsendDescribePrepared)
#define PQsendFlushRequest (sh_pq()->PQsendFlushRequest)
#define PQsendPrepare (sh_pq()->PQsendPrepare)
#define PQsendQuery (sh_pq()->PQsendQuery)
#define PQsendQueryParams (sh_pq()->PQsendQueryParams)
#define PQsendQueryPrepared (sh_pq()->PQsendQueryPrepared)
#define PQserverVersion (sh_pq()->PQserverVersion)
#define PQsetErrorVerbosity (sh_pq()->PQsetErrorVerbosity)
#define PQsetNoticeProcessor (sh_pq()->PQsetNoticeProcessor)
#define PQsetSingleRowMode (sh_pq()->PQsetSingleRowMode)
#define PQsetnonblocking (sh_pq()->PQsetnonblocking)
#define PQsocket (sh_pq()->PQsocket)
#define PQstatus (sh_pq()->PQstatus)
#define PQtransactionStatus (sh_pq()->PQtransactionStatus)
#define PQuser (sh_pq()->PQuser)

#endif /* SH_PQLOAD_FILL */

#endif
