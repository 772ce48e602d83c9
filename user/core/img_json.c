// SPDX-License-Identifier: MIT
/*
 * Image → JSON, walking protobuf-c descriptors: one generic printer serves
 * every message type, so a new .proto needs no code here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define LOG_PREFIX "json: "
#include "img_json.h"
#include "log.h"

#include "ghost-file.pb-c.h"
#include "ipc-msg.pb-c.h"
#include "ipc-sem.pb-c.h"
#include "ipc-shm.pb-c.h"
#include "tcp-stream.pb-c.h"

#define B64_LINE_OCTETS 57
#define B64_LINE_CHARS (B64_LINE_OCTETS / 3 * 4)

struct jw {
	FILE *out;
	int pretty;
	int depth;
};

static void jw_nl(struct jw *w)
{
	if (w->pretty)
		fprintf(w->out, "\n%*s", w->depth * 4, "");
}

/* Before an item: a comma unless first, then a new line (pretty) or a space. */
static void jw_sep(struct jw *w, int first)
{
	if (!first)
		fputc(',', w->out);
	if (w->pretty)
		jw_nl(w);
	else if (!first)
		fputc(' ', w->out);
}

/*
 * The code point of the UTF-8 sequence at @s (@left bytes), its length in
 * *@n; a byte that starts no valid sequence stands for itself.
 */
static uint32_t utf8_next(const unsigned char *s, size_t left, size_t *n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] < 0xc2 || s[0] > 0xf4) {
		*n = 1;
		return s[0];
	}
	len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	cp = s[0] & (0x7f >> len);
	for (i = 1; i < len; i++) {
		if (i >= left || (s[i] & 0xc0) != 0x80) {
			*n = 1;
			return s[0];
		}
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
		*n = 1;
		return s[0];
	}
	*n = len;
	return cp;
}

/* A JSON string as Python's json.dumps() writes it (ensure_ascii), as crit does. */
static void json_string(FILE *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, n;

	fputc('"', out);
	for (i = 0; i < len; i += n) {
		uint32_t c = utf8_next(u + i, len - i, &n);

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", (int)c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\r')
			fputs("\\r", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c == '\b')
			fputs("\\b", out);
		else if (c == '\f')
			fputs("\\f", out);
		else if (c >= 0x10000)
			fprintf(out, "\\u%04x\\u%04x", 0xd800 + ((c - 0x10000) >> 10),
				0xdc00 + ((c - 0x10000) & 0x3ff));
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc((int)c, out);
	}
	fputc('"', out);
}

/*
 * Quoted-printable as Python's quopri.encodestring() (text mode, tabs and
 * spaces kept but at the end of the data or of a line, soft breaks before
 * column 76, CRLF line ends if the first line end is one): crit shows AF_UNIX
 * socket names so (CRIU's "unix_name" conversion).
 */
static void json_qp(FILE *out, const uint8_t *p, size_t len)
{
	const uint8_t *nl = len ? memchr(p, '\n', len) : NULL;
	const char *brk = nl && nl > p && nl[-1] == '\r' ? "=\r\n" : "=\n";
	const char *eol = brk + 1;
	char *buf = NULL, last = 0;
	size_t blen = 0, i = 0, col = 0;
	FILE *m = open_memstream(&buf, &blen);

	if (!m) {
		json_string(out, "", 0);
		return;
	}
	while (i < len) {
		uint8_t c = p[i];
		int enc = c > 126 || c == '=' ||
			  (c == '.' && !col &&
			   (i + 1 == len || p[i + 1] == '\n' || p[i + 1] == '\r' || !p[i + 1])) ||
			  ((c == '\t' || c == ' ') && i + 1 == len) ||
			  (c < 33 && c != '\r' && c != '\n' && c != '\t' && c != ' ');

		if (enc) {
			if (col + 3 >= 76) {
				fputs(brk, m);
				col = 0;
			}
			fprintf(m, "=%02X", c);
			col += 3;
			last = 0;
			i++;
		} else if (c == '\n' || (c == '\r' && i + 1 < len && p[i + 1] == '\n')) {
			/* A space or tab before a line end is encoded after all. */
			if (last == ' ' || last == '\t') {
				fseek(m, -1, SEEK_CUR);
				fprintf(m, "=%02X", last);
			}
			fputs(eol, m);
			col = 0;
			last = 0;
			i += c == '\r' ? 2 : 1;
		} else {
			if (i + 1 != len && p[i + 1] != '\n' && col + 1 >= 76) {
				fputs(brk, m);
				col = 0;
			}
			fputc(c, m);
			col++;
			last = (char)c;
			i++;
		}
	}
	if (fclose(m)) {
		free(buf);
		json_string(out, "", 0);
		return;
	}
	json_string(out, buf, blen);
	free(buf);
}

/* Bytes fields crit shows as quoted-printable instead of base64. */
static int field_is_unix_name(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
	return m && !strcmp(m->descriptor->name, "unix_sk_entry") && !strcmp(f->name, "name");
}

/*
 * base64 in Python's encodebytes() layout, as crit prints it: 57 octets to a
 * 76-character line, each line ending in \n. libcrypto's EVP_EncodeBlock()
 * encodes one line at a time (its streaming EVP_EncodeUpdate() cuts lines at
 * 64 characters, PEM's width).
 */
static void json_base64(FILE *out, const uint8_t *p, size_t len)
{
	unsigned char line[B64_LINE_CHARS + 1];
	size_t i, n;

	fputc('"', out);
	for (i = 0; i < len; i += n) {
		n = len - i < B64_LINE_OCTETS ? len - i : B64_LINE_OCTETS;
		fwrite(line, 1, (size_t)EVP_EncodeBlock(line, p + i, (int)n), out);
		fputs("\\n", out);
	}
	fputc('"', out);
}

/* An entry's extra payload, printed as crit prints it for the image type. */
struct extra {
	const struct img_type *t;
	const uint8_t *data;
	size_t len;
};

static void json_message(struct jw *w, const ProtobufCMessage *m, const struct extra *x);

/* The value @v of field @f of message @m. */
static void json_value(struct jw *w, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
		       const void *v)
{
	FILE *out = w->out;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		fprintf(out, "%" PRId32, *(const int32_t *)v);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		fprintf(out, "%" PRIu32, *(const uint32_t *)v);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		fprintf(out, "%" PRId64, *(const int64_t *)v);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		fprintf(out, "%" PRIu64, *(const uint64_t *)v);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		fprintf(out, "%.9g", (double)*(const float *)v);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		fprintf(out, "%.17g", *(const double *)v);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		fputs(*(const protobuf_c_boolean *)v ? "true" : "false", out);
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		int32_t e = *(const int32_t *)v;
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value(f->descriptor, e);

		if (ev)
			json_string(out, ev->name, strlen(ev->name));
		else
			fprintf(out, "%" PRId32, e);
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)v;

		json_string(out, s ? s : "", s ? strlen(s) : 0);
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = v;

		if (field_is_unix_name(f, m))
			json_qp(out, b->data, b->len);
		else
			json_base64(out, b->data, b->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		json_message(w, *(ProtobufCMessage *const *)v, NULL);
		break;
	}
}

size_t img_json_field_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	}
	return 0;
}

/* Whether a singular field is present, as protobuf's ListFields() sees it. */
static int field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return 1;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING) {
		const void *p = *(void *const *)(base + f->offset);

		return p && p != f->default_value;
	}
	if (f->quantifier_offset)
		return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
	return 1;
}

/*
 * System V message records (IMG_EXTRA_IPC_MSG), as crit: a list alternating
 * each message's ipc_msg and its data. img_read_entry() checked their bounds.
 */
static void json_ipc_msgs(struct jw *w, const uint8_t *p, size_t len)
{
	size_t at = 0;
	int first = 1;

	fputc('[', w->out);
	while (len - at >= 4) {
		uint32_t size;
		IpcMsg *msg;

		memcpy(&size, p + at, 4);
		msg = ipc_msg__unpack(NULL, size, p + at + 4);
		if (!msg)
			break;
		at += 4 + size;
		fputs(first ? "" : ", ", w->out);
		json_message(w, &msg->base, NULL);
		fputs(", ", w->out);
		json_base64(w->out, p + at, msg->msize);
		at += (msg->msize + 7ull) / 8 * 8;
		ipc_msg__free_unpacked(msg, NULL);
		first = 0;
	}
	fputc(']', w->out);
}

/* Whether an entry has an "extra" key in crit's output, and its value. */
static int json_has_extra(const ProtobufCMessage *m, const struct extra *x)
{
	if (!x || x->t->extra == IMG_EXTRA_NONE)
		return 0;
	if (x->t->extra == IMG_EXTRA_IPC_SHM) {
		const IpcShmEntry *e = (const IpcShmEntry *)m;

		/* The pages are in pagemap and pages images, not here. */
		return !(e->has_in_pagemaps && e->in_pagemaps);
	}
	if (x->t->extra == IMG_EXTRA_GHOST && m->descriptor == &ghost_file_entry__descriptor)
		return !((const GhostFileEntry *)m)->chunks;
	return 1;
}

static void json_extra(struct jw *w, const ProtobufCMessage *m, const struct extra *x)
{
	switch (x->t->extra) {
	case IMG_EXTRA_NONE:
		break;
	case IMG_EXTRA_FIELD:
		if (m->descriptor == &tcp_stream_entry__descriptor) {
			const TcpStreamEntry *e = (const TcpStreamEntry *)m;

			fputs("{\"inq\": ", w->out);
			json_base64(w->out, x->data, e->inq_len);
			fputs(", \"outq\": ", w->out);
			/* No payload at all (both queues empty): no pointer to offset. */
			json_base64(w->out, x->data ? x->data + e->inq_len : x->data, e->outq_len);
			fputc('}', w->out);
			break;
		}
		json_base64(w->out, x->data, x->len);
		break;
	case IMG_EXTRA_IPC_SHM:
		json_base64(w->out, x->data, ((const IpcShmEntry *)m)->size);
		break;
	case IMG_EXTRA_IPC_SEM:
		fputc('[', w->out);
		for (uint32_t i = 0; i < ((const IpcSemEntry *)m)->nsems; i++) {
			uint16_t v;

			memcpy(&v, x->data + 2 * i, 2);
			fprintf(w->out, "%s%u", i ? ", " : "", v);
		}
		fputc(']', w->out);
		break;
	case IMG_EXTRA_IPC_MSG:
		json_ipc_msgs(w, x->data, x->len);
		break;
	case IMG_EXTRA_GHOST:
		json_base64(w->out, x->data, x->len);
		break;
	}
}

/*
 * A message as an object; crit puts an entry's extra payload in it as "extra"
 * (even an empty one) for the types that have one.
 */
static void json_message(struct jw *w, const ProtobufCMessage *m, const struct extra *x)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	unsigned int i;
	int first = 1;

	fputc('{', w->out);
	w->depth++;
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *v = base + f->offset;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset), j;
			const char *arr = *(const char *const *)v;

			if (!n)
				continue;
			jw_sep(w, first);
			fprintf(w->out, "\"%s\": [", f->name);
			for (j = 0; j < n; j++) {
				fputs(j ? ", " : "", w->out);
				json_value(w, m, f, arr + j * img_json_field_size(f));
			}
			fputc(']', w->out);
		} else {
			if (!field_present(m, f))
				continue;
			jw_sep(w, first);
			fprintf(w->out, "\"%s\": ", f->name);
			json_value(w, m, f, v);
		}
		first = 0;
	}
	if (json_has_extra(m, x)) {
		jw_sep(w, first);
		fputs("\"extra\": ", w->out);
		json_extra(w, m, x);
		first = 0;
	}
	w->depth--;
	if (!first)
		jw_nl(w);
	fputc('}', w->out);
}

/* Raw images and blobs: their size only (pages: also their number). */
static int json_raw(struct img *img, FILE *out)
{
	const struct img_type *t = img_get_type(img);
	size_t len;

	img_data(img, &len);
	if (t != IMG_PAGES) {
		fprintf(out, "{\"magic\": \"%s\", \"size\": %zu}\n", t->name, len);
		return 0;
	}
	fprintf(out, "{\"magic\": \"%s\", \"size\": %zu, \"pages\": %zu}\n", t->name, len,
		len / 4096);
	if (len % 4096) {
		pr_err("%s: size %zu is not a multiple of the 4096-byte page size", img_name(img),
		       len);
		return -EINVAL;
	}
	return 0;
}

int img_to_json(struct img *img, FILE *out, int pretty)
{
	struct jw w = { .out = out, .pretty = pretty };
	ProtobufCMessage *m;
	int err, n = 0;

	if (img_get_type(img)->kind == IMG_RAW || img_get_type(img)->kind == IMG_BLOB)
		return json_raw(img, out);
	fprintf(out, "{\"magic\": \"%s\", \"entries\": [", img_get_type(img)->name);
	w.depth = 1;
	while ((err = img_read_entry(img, &m)) == 1) {
		struct extra x = { .t = img_get_type(img) };
		const void *data = NULL;

		jw_sep(&w, !n++);
		img_read_payload(img, m, &data, &x.len);
		x.data = data;
		json_message(&w, m, &x);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	if (err < 0) {
		fflush(out);
		return err;
	}
	w.depth = 0;
	if (n)
		jw_nl(&w);
	fputs("]}\n", out);
	return 0;
}
