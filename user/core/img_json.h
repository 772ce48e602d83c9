/* SPDX-License-Identifier: MIT */
#ifndef FERRY_IMG_JSON_H
#define FERRY_IMG_JSON_H

#include <stdio.h>

#include "img.h"

/*
 * img_to_json - print every entry of an open image as JSON, in crit's shape:
 * {"magic": "NAME", "entries": [{...}, ...]}, bytes and extra payloads as
 * base64 (76-column MIME lines, as crit), enums by name. pretty indents. Raw
 * images print their size and page count. Returns 0, or the -errno of the
 * first bad entry (already logged with file and offset); what was printed up
 * to then is not valid JSON, so callers should print to a buffer and show it
 * only on success (ferry decode does).
 */
int img_to_json(struct img *img, FILE *out, int pretty);

/*
 * img_json_field_size - the size of one value of field @f in a protobuf-c
 * message (an element of a repeated field's array), or 0 for a type
 * protobuf-c does not have.
 */
size_t img_json_field_size(const ProtobufCFieldDescriptor *f);

#endif
