/*
 * timeutil.h — wall-clock times as int64 Unix seconds (UTC), RFC 3339 text.
 *
 * All stored times are Unix seconds. 0 means "none" wherever a time is
 * optional (expires_at, valid_since).
 */
#ifndef SHORTY_TIMEUTIL_H
#define SHORTY_TIMEUTIL_H

#include <stdint.h>
#include <stddef.h>

#define SH_TIME_BUF 32

/* Now, Unix seconds. Tests may override with SHORTY_FAKE_NOW (seconds),
 * read at the first call; sh_now_reload reads it again (a test that
 * changes it in its own process). */
int64_t sh_now(void);
void sh_now_reload(void);

/* Monotonic clock in nanoseconds (rate limits, timeouts, metrics). */
int64_t sh_mono_ns(void);

/* Formats t as "2026-11-22T00:07:09+00:00" into buf (>= SH_TIME_BUF). */
const char *sh_time_format(int64_t t, char *buf);

/* Parses an ISO 8601 / RFC 3339 date-time with offset ("Z", "+02:00"),
 * or a plain date "2026-11-22" (midnight UTC). Rejects garbage, out-of-range
 * fields and trailing text. Returns 0 or SH_EINVAL. */
int sh_time_parse(const char *s, int64_t *out);

/* Parses a CLI "when": an absolute time as sh_time_parse accepts, or a
 * duration from now: "90s", "15m", "24h", "7d", "2w". */
int sh_when_parse(const char *s, int64_t now, int64_t *out);

#endif
