/*
 * timeutil.c — the clocks and the time texts of shorty (see shorty/timeutil.h).
 *
 * Stored times are int64 Unix seconds, UTC. Text out is always RFC 3339 with
 * an explicit "+00:00" offset (what Shlink clients parse). Text in is the
 * ISO 8601 subset people and clients actually send:
 *
 *   2026-11-22                       midnight UTC
 *   2026-11-22T10:20                 UTC (no offset given)
 *   2026-11-22T10:20:30              UTC
 *   2026-11-22T10:20:30.123Z         fraction ignored
 *   2026-11-22T10:20:30+02:00        also +0200, +02, -05:30; 't'/' ' for 'T'
 *
 * Every field is range-checked (month 1-12, day within its month, hour
 * 0-23, minute 0-59, second 0-60, offset up to 23:59); anything after the
 * date-time is an error. The CLI's "when" adds durations from now:
 * "90s", "15m", "24h", "7d", "2w".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shorty/err.h"
#include "shorty/timeutil.h"

/* SHORTY_FAKE_NOW, read once: a getenv per call was 4% of a keep-alive
 * redirect's instructions (every redirect asks for the time). -2: not read
 * yet; -1: not set (or not a time); else the fake time. */
static int64_t fake_now = -2;

static int64_t fake_now_read(void)
{
	const char *fake = getenv("SHORTY_FAKE_NOW");

	if (fake && *fake) {
		char *end = NULL;
		long long v;

		errno = 0;
		v = strtoll(fake, &end, 10);
		if (errno == 0 && end != fake && *end == '\0' && v >= 0)
			return (int64_t)v;
	}
	return -1;
}

void sh_now_reload(void)
{
	__atomic_store_n(&fake_now, fake_now_read(), __ATOMIC_RELAXED);
}

int64_t sh_now(void)
{
	int64_t fake = __atomic_load_n(&fake_now, __ATOMIC_RELAXED);

	if (fake == -2) { /* the first call (threads that race read the same) */
		fake = fake_now_read();
		__atomic_store_n(&fake_now, fake, __ATOMIC_RELAXED);
	}
	return fake >= 0 ? fake : (int64_t)time(NULL);
}

int64_t sh_mono_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Writes v as exactly n decimal digits. */
static char *tu_put(char *p, int v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

const char *sh_time_format(int64_t t, char *buf)
{
	struct tm tm;
	time_t tt = (time_t)t;
	char *p = buf;

	if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
		/* outside what 4 digits can say: write the epoch, never garbage */
		memset(&tm, 0, sizeof tm);
		tm.tm_year = 70;
		tm.tm_mday = 1;
	}
	/* "YYYY-MM-DDTHH:MM:SS+00:00": 25 bytes + NUL <= SH_TIME_BUF */
	p = tu_put(p, tm.tm_year + 1900, 4);
	*p++ = '-';
	p = tu_put(p, tm.tm_mon + 1, 2);
	*p++ = '-';
	p = tu_put(p, tm.tm_mday, 2);
	*p++ = 'T';
	p = tu_put(p, tm.tm_hour, 2);
	*p++ = ':';
	p = tu_put(p, tm.tm_min, 2);
	*p++ = ':';
	p = tu_put(p, tm.tm_sec, 2);
	memcpy(p, "+00:00", 7);
	return buf;
}

/* Reads exactly n decimal digits at *p, advancing it. */
static bool tu_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool tu_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int tu_mdays(int y, int m)
{
	static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && tu_leap(y) ? 29 : d[m - 1];
}

int sh_time_parse(const char *s, int64_t *out)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 1;
	struct tm tm;
	time_t t;

	if (!s || !out)
		return SH_EINVAL;
	if (!tu_digits(&p, 4, &y) || *p++ != '-' || !tu_digits(&p, 2, &mo) || *p++ != '-' ||
	    !tu_digits(&p, 2, &d))
		return SH_EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > tu_mdays(y, mo))
		return SH_EINVAL;
	if (*p == '\0')
		goto done;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return SH_EINVAL;
	p++;
	if (!tu_digits(&p, 2, &h) || *p++ != ':' || !tu_digits(&p, 2, &mi))
		return SH_EINVAL;
	if (*p == ':') {
		p++;
		if (!tu_digits(&p, 2, &sec))
			return SH_EINVAL;
		if (*p == '.' || *p == ',') {
			p++;
			if (*p < '0' || *p > '9')
				return SH_EINVAL;
			for (int i = 0; *p >= '0' && *p <= '9'; i++, p++)
				if (i >= 9)
					return SH_EINVAL;
		}
	}
	if (h > 23 || mi > 59 || sec > 60)
		return SH_EINVAL;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (!tu_digits(&p, 2, &oh))
			return SH_EINVAL;
		if (*p == ':') {
			p++;
			if (!tu_digits(&p, 2, &om))
				return SH_EINVAL;
		} else if (*p >= '0' && *p <= '9') {
			if (!tu_digits(&p, 2, &om))
				return SH_EINVAL;
		}
		if (oh > 23 || om > 59)
			return SH_EINVAL;
	}
	if (*p != '\0')
		return SH_EINVAL;
done:
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	*out = (int64_t)t - sign * (int64_t)(oh * 3600 + om * 60);
	return 0;
}

int sh_when_parse(const char *s, int64_t now, int64_t *out)
{
	const char *p = s;
	int64_t n = 0, mult;
	size_t len;

	if (!s || !out)
		return SH_EINVAL;
	len = strlen(s);
	/* an absolute time starts with a 4-digit year and a '-' */
	if (len >= 10 && s[4] == '-')
		return sh_time_parse(s, out);
	if (*p == '+')
		p++;
	if (*p < '0' || *p > '9')
		return SH_EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (INT64_MAX - 9) / 10)
			return SH_EINVAL;
		n = n * 10 + (*p - '0');
	}
	switch (*p) {
	case 's':
		mult = 1;
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	case 'w':
		mult = 7 * 86400;
		break;
	default:
		return SH_EINVAL;
	}
	if (p[1] != '\0' || n == 0 || now < 0)
		return SH_EINVAL;
	if (n > (INT64_MAX - now) / mult)
		return SH_EINVAL;
	*out = now + n * mult;
	return 0;
}
