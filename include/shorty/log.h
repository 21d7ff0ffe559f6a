/*
 * log.h — one-line log messages to standard error (core/log.c).
 *
 * Each message is one line: "<RFC 3339 UTC time> <level> <message>\n",
 * written with a single write(2) so lines from different threads never
 * interleave. Whatever is logged is made safe first: CR, LF, other control
 * bytes and backslashes are escaped (\r, \n, \xNN, \\), so input that ends
 * up in a message (a URL, a header) can never forge a log line.
 * Thread-safe; the level is a process-wide setting.
 */
#ifndef SHORTY_LOG_H
#define SHORTY_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Levels, most severe first. (Not LOG_*: <syslog.h> defines those.) */
enum sh_log_level {
	SH_LOG_ERROR = 0,
	SH_LOG_WARN = 1,
	SH_LOG_INFO = 2,
	SH_LOG_DEBUG = 3,
};

#define SH_LOG_LINE_MAX 4096 /* longer messages are cut, with "..." */

/* Sets / reads the level: messages above it are dropped. Default INFO. */
void log_set_level(int level);
int log_get_level(void);

/* "error", "warn", "info", "debug" (case-insensitive) -> level.
 * Returns 0, or SH_EINVAL on any other text. */
int log_level_parse(const char *s, int *level);

/* "error" ... "debug"; "?" for an unknown level. */
const char *log_level_name(int level);

/* True when a message of this level would be written (skip costly
 * formatting otherwise). */
bool log_enabled(int level);

/* Sends output to fd instead of standard error (tests); -1 restores. */
void log_set_fd(int fd);

/* Formats and writes one line (see above). */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Copies src (n bytes) into dst (dstsz >= 1) with the escaping above,
 * always NUL-terminated, cut (with "...") if it does not fit. Returns the
 * length written. Useful to put untrusted text in any one-line output. */
size_t log_escape(char *dst, size_t dstsz, const char *src, size_t n);

#endif
