/*
 * log.h — one line per event on stderr: `ts level component msg key=value`.
 *
 * Safe to call from any thread; each line is written with one write(2).
 */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdarg.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARNING = 2, LOG_ERROR = 3, LOG_FATAL = 4 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "debug", "info", "warning", "error"; returns -1 when unknown. */
int log_level_parse(const char *name);

/* fmt is the message followed by optional " key=value" pairs. */
void log_msg(enum log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_debug(c, ...) log_msg(LOG_DEBUG, c, __VA_ARGS__)
#define log_info(c, ...) log_msg(LOG_INFO, c, __VA_ARGS__)
#define log_warn(c, ...) log_msg(LOG_WARNING, c, __VA_ARGS__)
#define log_error(c, ...) log_msg(LOG_ERROR, c, __VA_ARGS__)
#define log_fatal(c, ...) log_msg(LOG_FATAL, c, __VA_ARGS__)

#endif
