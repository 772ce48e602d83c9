// SPDX-License-Identifier: MIT
/*
 * The one printf-style formatter of ferry's logs. It never hands a format
 * string it did not check to snprintf: each conversion is parsed, validated,
 * and printed alone with a C type chosen from its length modifier, so that a
 * corrupted binlog can print garbage numbers but cannot crash the reader.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log_format.h"

#define BAD_ARG "<?>"

struct out {
	char *buf;
	size_t len;
	size_t pos;
};

static void out_put(struct out *o, const char *s, size_t n)
{
	size_t room = o->len - 1 - o->pos;

	if (n > room)
		n = room;
	memcpy(o->buf + o->pos, s, n);
	o->pos += n;
	o->buf[o->pos] = '\0';
}

static __attribute__((format(printf, 2, 3))) void out_fmt(struct out *o, const char *fmt, ...)
{
	size_t room = o->len - o->pos;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->pos, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	o->pos += (size_t)n < room ? (size_t)n : room - 1;
}

enum len_mod { LM_NONE, LM_HH, LM_H, LM_L, LM_LL, LM_Z, LM_J, LM_T };

static void put_int(struct out *o, const char *spec, char conv, enum len_mod lm, uint64_t v)
{
	int is_signed = conv == 'd' || conv == 'i';

	/* spec was checked to hold only flags, digits, '.', a length and conv. */
	switch (lm) {
	case LM_HH:
		if (is_signed)
			out_fmt(o, spec, (signed char)v);
		else
			out_fmt(o, spec, (unsigned char)v);
		break;
	case LM_H:
		if (is_signed)
			out_fmt(o, spec, (short)v);
		else
			out_fmt(o, spec, (unsigned short)v);
		break;
	case LM_NONE:
		if (conv == 'c')
			out_fmt(o, spec, (int)(unsigned char)v);
		else if (is_signed)
			out_fmt(o, spec, (int)v);
		else
			out_fmt(o, spec, (unsigned int)v);
		break;
	case LM_L:
	case LM_Z:
	case LM_T:
		if (is_signed)
			out_fmt(o, spec, (long)v);
		else
			out_fmt(o, spec, (unsigned long)v);
		break;
	case LM_LL:
	case LM_J:
		if (is_signed)
			out_fmt(o, spec, (long long)v);
		else
			out_fmt(o, spec, (unsigned long long)v);
		break;
	}
}

size_t log_format(char *buf, size_t len, const char *fmt, const struct log_fmt_args *a)
{
	struct out o = { .buf = buf, .len = len };
	unsigned int argi = 0;
	const char *p = fmt;

	if (!len)
		return 0;
	buf[0] = '\0';

	while (*p) {
		const char *start, *lit = strchr(p, '%');
		char spec[40], conv;
		enum len_mod lm = LM_NONE;
		size_t n;
		uint64_t v;

		if (!lit) {
			out_put(&o, p, strlen(p));
			break;
		}
		out_put(&o, p, (size_t)(lit - p));
		start = p = lit + 1;
		if (*p == '%') {
			out_put(&o, "%", 1);
			p++;
			continue;
		}
		p += strspn(p, "-+ #0");
		p += strspn(p, "0123456789");
		if (*p == '.') {
			p++;
			p += strspn(p, "0123456789");
		}
		if (p[0] == 'h' && p[1] == 'h') {
			lm = LM_HH;
			p += 2;
		} else if (p[0] == 'l' && p[1] == 'l') {
			lm = LM_LL;
			p += 2;
		} else if (*p == 'h' || *p == 'l' || *p == 'z' || *p == 'j' || *p == 't') {
			lm = *p == 'h'	 ? LM_H
			     : *p == 'l' ? LM_L
			     : *p == 'z' ? LM_Z
			     : *p == 'j' ? LM_J
					 : LM_T;
			p++;
		}
		conv = *p;
		n = (size_t)(p - start) + 1;
		if (!conv || !strchr("diuoxXcspfFeEgGaA", conv) || n + 2 > sizeof(spec)) {
			/* Unknown conversion (or %n, or '*'): print it verbatim. */
			out_put(&o, lit, conv ? n + 1 : n);
			p = conv ? p + 1 : p;
			continue;
		}
		p++;
		spec[0] = '%';
		memcpy(spec + 1, start, n);
		spec[n + 1] = '\0';

		if (conv == 's') {
			const char *s = argi < a->nargs ? a->str(a->ctx, argi) : NULL;

			/* Drop the length modifier: %ls would take a wchar_t *. */
			if (s && lm == LM_NONE)
				out_fmt(&o, spec, s);
			else
				out_put(&o, BAD_ARG, sizeof(BAD_ARG) - 1);
			argi++;
			continue;
		}
		if (argi >= a->nargs || a->get(a->ctx, argi, &v)) {
			out_put(&o, BAD_ARG, sizeof(BAD_ARG) - 1);
			argi++;
			continue;
		}
		argi++;
		if (strchr("fFeEgGaA", conv)) {
			double d;

			memcpy(&d, &v, sizeof(d));
			if (lm != LM_NONE && lm != LM_L) {
				out_put(&o, BAD_ARG, sizeof(BAD_ARG) - 1);
				continue;
			}
			if (lm == LM_L) { /* %lf == %f */
				spec[n - 1] = conv;
				spec[n] = '\0';
			}
			out_fmt(&o, spec, d);
		} else if ((conv == 'p' || conv == 'c') && lm != LM_NONE) {
			out_put(&o, BAD_ARG, sizeof(BAD_ARG) - 1);
		} else if (conv == 'p') {
			out_fmt(&o, spec, (void *)(uintptr_t)v);
		} else {
			put_int(&o, spec, conv, lm, v);
		}
	}
	return o.pos;
}
