/*
 * xmlload.h — libxml2, loaded when page-title fetching starts
 * (--resolve-titles; shorty/dynlib.h): without it shorty never maps libxml2
 * nor what it pulls in (ICU, libstdc++, liblzma). Included by
 * src/service/titles.c after libxml2's headers: every name below becomes a
 * call through the table. svc__titles_start() loads it first, so a missing
 * libxml2 is one clear error at start.
 *
 * xmlFree is a variable of libxml2 (a pointer to its free function): its
 * slot holds the variable's address, so every name maps to (*slot), which
 * is the variable for xmlFree and the function for the others.
 */
#ifndef SHORTY_SERVICE_XMLLOAD_H
#define SHORTY_SERVICE_XMLLOAD_H

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include "shorty/dynlib.h"

#define SH_XML_FUNCS(X)                                                                    \
	X(htmlReadMemory) X(xmlCleanupParser) X(xmlDocGetRootElement)                     \
	X(xmlFreeDoc) X(xmlInitParser) X(xmlFree) X(xmlNodeGetContent)

struct sh_xml_fns {
#define SH_XML_SLOT(f) __typeof__(f) *f;
	SH_XML_FUNCS(SH_XML_SLOT)
#undef SH_XML_SLOT
};
extern struct sh_xml_fns sh_xml_fns;
extern sh_dynlib sh_xml_lib;

/* Loads libxml2; 0, or SH_EUNAVAIL with a sentence in err. */
int sh_xml_load(sh_err *err);

static inline struct sh_xml_fns *sh_xml(void)
{
	if (!atomic_load_explicit(&sh_xml_lib.loaded, memory_order_acquire))
		sh_dynlib_need(&sh_xml_lib);
	return &sh_xml_fns;
}

#ifndef SH_XMLLOAD_FILL
#define htmlReadMemory (*sh_xml()->htmlReadMemory)
#define xmlCleanupParser (*sh_xml()->xmlCleanupParser)
#define xmlDocGetRootElement (*sh_xml()->xmlDocGetRootElement)
#define xmlFree (*sh_xml()->xmlFree)
#define xmlFreeDoc (*sh_xml()->xmlFreeDoc)
#define xmlInitParser (*sh_xml()->xmlInitParser)
#define xmlNodeGetContent (*sh_xml()->xmlNodeGetContent)
#endif /* SH_XMLLOAD_FILL */

#endif
