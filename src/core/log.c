/*
 * log.c — the one logger of shorty: levelled, one line per message, to
 * standard error (see shorty/log.h).
 *
 * A message is formatted into a bounded stack buffer, escaped so that no
 * control byte reaches the output (log injection: a URL or header carrying
 * "\r\n" must not start a new line), prefixed with the UTC time and level,
 * and written with a single write(2), which keeps lines whole across threads.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "shorty/err.h"
#include "shorty/log.h"
#include "shorty/utf8.h"

static atomic_int log_level = SH_LOG_INFO;
static atomic_int log_fd = -1;

static const char *const log_names[] = {"error", "warn", "info", "debug"};

void log_set_level(int level)
{
	if (level < SH_LOG_ERROR)
		level = SH_LOG_ERROR;
	if (level > SH_LOG_DEBUG)
		level = SH_LOG_DEBUG;
	atomic_store(&log_level, level);
}

int log_get_level(void)
{
	return atomic_load(&log_level);
}

int log_level_parse(const char *s, int *level)
{
	if (!s)
		return SH_EINVAL;
	for (int i = 0; i <= SH_LOG_DEBUG; i++) {
		if (strcasecmp(s, log_names[i]) == 0) {
			*level = i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*level = SH_LOG_WARN;
		return 0;
	}
	return SH_EINVAL;
}

const char *log_level_name(int level)
{
	if (level < SH_LOG_ERROR || level > SH_LOG_DEBUG)
		return "?";
	return log_names[level];
}

bool log_enabled(int level)
{
	return level <= atomic_load(&log_level);
}

void log_set_fd(int fd)
{
	atomic_store(&log_fd, fd);
}

size_t log_escape(char *dst, size_t dstsz, const char *src, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (dstsz == 0)
		return 0;
	for (size_t i = 0, ul; i < n; i += ul) {
		unsigned char c = (unsigned char)src[i];
		char tmp[4];
		const char *out = tmp;
		size_t tl = 0;
		uint32_t cp = c;

		/* a whole UTF-8 character (not a C1 control) goes through as it is;
		 * a byte that starts none is escaped like a control byte, so every
		 * line is UTF-8 (log shippers that read JSON or UTF-8 choke on
		 * anything else) */
		ul = c >= 0x80 ? sh_utf8_next((const unsigned char *)src + i, n - i, &cp) : 1;
		if (ul > 1 && cp > 0x9f) {
			out = src + i, tl = ul;
		} else if (ul = 1, c == '\r') {
			tmp[0] = '\\', tmp[1] = 'r', tl = 2;
		} else if (c == '\n') {
			tmp[0] = '\\', tmp[1] = 'n', tl = 2;
		} else if (c == '\t') {
			tmp[0] = '\\', tmp[1] = 't', tl = 2;
		} else if (c == '\\') {
			tmp[0] = '\\', tmp[1] = '\\', tl = 2;
		} else if (c < 0x20 || c >= 0x7f) {
			tmp[0] = '\\', tmp[1] = 'x', tmp[2] = hex[c >> 4], tmp[3] = hex[c & 15];
			tl = 4;
		} else {
			tmp[0] = (char)c, tl = 1;
		}
		if (o + tl + 1 > dstsz) {
			/* cut: leave room for "..." when possible, never inside a
			 * UTF-8 character */
			size_t end = o;
			while (o > 0 && o + 4 > dstsz)
				o--;
			while (o > 0 && o < end && ((unsigned char)dst[o] & 0xc0) == 0x80)
				o--;
			if (o + 4 <= dstsz) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(dst + o, out, tl);
		o += tl;
	}
	dst[o] = '\0';
	return o;
}

void log_vmsg(int level, const char *fmt, va_list ap)
{
	char raw[SH_LOG_LINE_MAX];
	char line[SH_LOG_LINE_MAX + 64];
	struct tm tm;
	time_t t;
	int n;
	size_t len, off;
	int fd;

	if (!log_enabled(level))
		return;
	n = vsnprintf(raw, sizeof raw, fmt, ap);
	if (n < 0)
		return;
	len = (size_t)n < sizeof raw ? (size_t)n : sizeof raw - 1;

	t = time(NULL);
	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof tm);
	off = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
	n = snprintf(line + off, sizeof line - off, "%s ", log_level_name(level));
	if (n > 0)
		off += (size_t)n;
	/* keep 2 bytes for "\n" and the NUL */
	off += log_escape(line + off, sizeof line - off - 1, raw, len);
	line[off++] = '\n';

	fd = atomic_load(&log_fd);
	if (fd < 0)
		fd = STDERR_FILENO;
	for (size_t done = 0; done < off;) {
		ssize_t w = write(fd, line + done, off - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		done += (size_t)w;
	}
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
