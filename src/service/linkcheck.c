/*
 * linkcheck.c — the checks of a link's fields that a create (create.c) and
 * an update (edit.c) share: title, tags, redirect status, dates, visit
 * limit. Each says which field is wrong and how to fix it.
 */
#include <stdio.h>
#include <string.h>

#include "shorty/utf8.h"
#include "service/handle.h"

bool svc__status_valid(int st)
{
	return st == 301 || st == 302 || st == 307 || st == 308;
}

/* Valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF), no
 * control character (C0, DEL, C1) and no noncharacter (U+FFFE, U+FDD0...:
 * XML cannot carry U+FFFE/U+FFFF, and none of them is text). */
static bool text_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), len;
	uint32_t cp;

	for (; n > 0; p += len, n -= len) {
		len = sh_utf8_next(p, n, &cp);
		if (len == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || sh_unicode_nonchar(cp))
			return false;
	}
	return true;
}

int svc__check_title(const char *title, sh_err *err)
{
	if (!title)
		return 0;
	if (strlen(title) > SH_TITLE_MAX)
		return sh_err_set(err, SH_EINVAL, "title",
		                  "the title is longer than %d bytes; shorten it", SH_TITLE_MAX);
	if (!text_ok(title))
		return sh_err_set(err, SH_EINVAL, "title",
		                  "the title must be UTF-8 text without control characters or noncharacters");
	return 0;
}

bool svc_tag_valid(const char *tag)
{
	size_t i;

	if (!tag || !tag[0])
		return false;
	for (i = 0; tag[i]; i++) {
		char c = tag[i];

		if (i >= SH_TAG_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Validates tags and copies them, duplicates removed, into out. */
int svc__check_tags(const char *const *tags, int ntags, char out[SH_MAX_TAGS][SH_TAG_MAX + 1],
                      int *nout, sh_err *err)
{
	int i, j;

	*nout = 0;
	if (ntags < 0 || (ntags > 0 && !tags))
		return sh_err_set(err, SH_EINVAL, "tags", "the tags are missing");
	for (i = 0; i < ntags; i++) {
		if (!svc_tag_valid(tags[i]))
			return sh_err_set(err, SH_EINVAL, "tags",
			                  "the tag \"%.40s\" is not valid: a tag is 1-%d characters of "
			                  "a-z, 0-9, '_' and '-' (lower case)",
			                  tags[i] ? tags[i] : "", SH_TAG_MAX);
		for (j = 0; j < *nout; j++)
			if (strcmp(out[j], tags[i]) == 0)
				break;
		if (j < *nout)
			continue;
		if (*nout == SH_MAX_TAGS)
			return sh_err_set(err, SH_EINVAL, "tags", "a link has at most %d tags",
			                  SH_MAX_TAGS);
		snprintf(out[*nout], SH_TAG_MAX + 1, "%s", tags[i]);
		(*nout)++;
	}
	return 0;
}

int svc__check_status(int st, sh_err *err)
{
	if (!svc__status_valid(st))
		return sh_err_set(err, SH_EINVAL, "redirectStatus",
		                  "the redirect status must be 301, 302, 307 or 308, not %d", st);
	return 0;
}

int svc__check_times(int64_t valid_since, int64_t expires_at, sh_err *err)
{
	if (valid_since < 0)
		return sh_err_set(err, SH_EINVAL, "validSince",
		                  "validSince must be a date after 1970-01-01");
	if (expires_at < 0)
		return sh_err_set(err, SH_EINVAL, "validUntil",
		                  "validUntil must be a date after 1970-01-01");
	if (valid_since && expires_at && valid_since >= expires_at)
		return sh_err_set(err, SH_EINVAL, "validUntil",
		                  "validUntil must be later than validSince");
	return 0;
}

int svc__check_max_visits(int64_t n, sh_err *err)
{
	if (n < 0)
		return sh_err_set(err, SH_EINVAL, "maxVisits",
		                  "maxVisits must be a positive number of visits (or none)");
	return 0;
}
