// SPDX-License-Identifier: MIT
/*
 * Image → JSON, walking protobuf-c descriptors: one generic printer serves
 * every message type, so a new .proto needs no code here.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <openssl/evp.h>

#define LOG_PREFIX "json: "
#include "img_json.h"
#include "log.h"

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

static void json_string(FILE *out, const char *s, size_t len)
{
	size_t i;

	fputc('"', out);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
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

static void json_message(struct jw *w, const ProtobufCMessage *m, int has_extra,
			 const uint8_t *extra, size_t extra_len);

static void json_value(struct jw *w, const ProtobufCFieldDescriptor *f, const void *v)
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

		json_base64(out, b->data, b->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		json_message(w, *(ProtobufCMessage *const *)v, 0, NULL, 0);
		break;
	}
}

static size_t field_size(const ProtobufCFieldDescriptor *f)
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
 * A message as an object; crit puts an entry's extra payload in it as "extra"
 * (even an empty one) for the types that have one.
 */
static void json_message(struct jw *w, const ProtobufCMessage *m, int has_extra,
			 const uint8_t *extra, size_t extra_len)
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
				json_value(w, f, arr + j * field_size(f));
			}
			fputc(']', w->out);
		} else {
			if (!field_present(m, f))
				continue;
			jw_sep(w, first);
			fprintf(w->out, "\"%s\": ", f->name);
			json_value(w, f, v);
		}
		first = 0;
	}
	if (has_extra) {
		jw_sep(w, first);
		fputs("\"extra\": ", w->out);
		json_base64(w->out, extra, extra_len);
		first = 0;
	}
	w->depth--;
	if (!first)
		jw_nl(w);
	fputc('}', w->out);
}

static int json_raw(struct img *img, FILE *out)
{
	size_t len;

	img_data(img, &len);
	fprintf(out, "{\"magic\": \"%s\", \"size\": %zu, \"pages\": %zu}\n",
		img_get_type(img)->name, len, len / 4096);
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

	if (img_get_type(img)->kind == IMG_RAW)
		return json_raw(img, out);
	fprintf(out, "{\"magic\": \"%s\", \"entries\": [", img_get_type(img)->name);
	w.depth = 1;
	while ((err = img_read_entry(img, &m)) == 1) {
		const void *data;
		size_t len;

		jw_sep(&w, !n++);
		data = NULL;
		len = 0;
		img_read_payload(img, m, &data, &len);
		json_message(&w, m, img_get_type(img)->payload_field != NULL, data, len);
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
