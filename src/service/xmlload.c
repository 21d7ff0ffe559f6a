/*
 * xmlload.c — the libxml2 table (service/xmlload.h, shorty/dynlib.h).
 */
#include <dlfcn.h>

#define SH_XMLLOAD_FILL /* the real names, not the table's mappings */
#include "service/xmlload.h"

struct sh_xml_fns sh_xml_fns;

static const char *xml_fill(void *h)
{
#define SH_XML_DLSYM(f)                                                                    \
	if (!(*(void **)&sh_xml_fns.f = dlsym(h, #f)))                                     \
		return #f;
	SH_XML_FUNCS(SH_XML_DLSYM)
#undef SH_XML_DLSYM
	return NULL;
}

sh_dynlib sh_xml_lib = {
    .soname = "libxml2.so.2",
    .package = "libxml2",
    .use = "page titles (--resolve-titles)",
    .fill = xml_fill,
};

int sh_xml_load(sh_err *err)
{
	return sh_dynlib_load(&sh_xml_lib, err);
}
