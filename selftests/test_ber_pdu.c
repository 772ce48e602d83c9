// SPDX-License-Identifier: MIT
/*
 * ber_pdu_begin (user/core/ber.c): the prelude both PDU decoders (the page
 * server's ps_decode and the migration stream's mig_decode) share.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "ber.h"
#include "migrate_wire.h"
#include "ps_wire.h"

static const char *names(unsigned int n)
{
	return n == 3 ? "Three" : n == 5 ? "Five" : "?";
}

Test(ber_pdu, accepts_an_allowed_pdu)
{
	/* [APPLICATION 5] { INTEGER 1 } at stream offset 100 */
	const uint8_t b[] = { 0x65, 0x03, 0x02, 0x01, 0x01 };
	struct ber_dec d;
	uint32_t num = 0;

	cr_assert_eq(ber_pdu_begin(&d, b, sizeof(b), 100, 1u << 5, names, "tests", &num), 0);
	cr_assert_eq(num, 5);
	cr_assert_eq(d.pos, 0, "the tag is peeked, not consumed");
}

Test(ber_pdu, refuses_a_pdu_not_allowed_naming_the_allowed)
{
	const uint8_t b[] = { 0x65, 0x00 };
	struct ber_dec d;
	uint32_t num;

	cr_assert_eq(ber_pdu_begin(&d, b, sizeof(b), 7, 1u << 3 | 1u << 9, names, "tests", &num),
		     -EBADMSG);
	cr_assert_eq(d.err.off, 7);
	cr_assert_str_eq(d.err.msg, "expected one of Three; got Five");
}

Test(ber_pdu, refuses_what_is_not_a_pdu)
{
	const uint8_t prim[] = { 0x45, 0x00 }, unnamed[] = { 0x64, 0x00 },
		      integer[] = { 0x02, 0x01, 0x00 };
	struct ber_dec d;
	uint32_t num;

	cr_assert_eq(ber_pdu_begin(&d, prim, sizeof(prim), 0, ~0u, names, "tests", &num), -EBADMSG);
	cr_assert(strstr(d.err.msg, "(not a PDU of tests)"), "%s", d.err.msg);
	cr_assert_eq(ber_pdu_begin(&d, unnamed, sizeof(unnamed), 0, ~0u, names, "tests", &num),
		     -EBADMSG);
	cr_assert(strstr(d.err.msg, "expected one of Three, Five; got [APPLICATION 4]"), "%s",
		  d.err.msg);
	cr_assert_eq(ber_pdu_begin(&d, integer, sizeof(integer), 0, ~0u, names, "tests", &num),
		     -EBADMSG);
	cr_assert(strstr(d.err.msg, "got INTEGER (not a PDU of tests)"), "%s", d.err.msg);
	cr_assert_eq(ber_pdu_begin(&d, integer, 0, 0, ~0u, names, "tests", &num), -EBADMSG);
}

/* Both decoders give the same shape of refusal through it. */
Test(ber_pdu, both_decoders_use_it)
{
	const uint8_t verdict[] = { 0x76, 0x00 }; /* [APPLICATION 22]: a Verdict */
	struct mig_pdu mp;
	struct ps_pdu pp;
	struct ber_err e;

	cr_assert_eq(mig_decode(verdict, sizeof(verdict), 40, 1u << MIG_HELLO, &mp, &e), -EBADMSG);
	cr_assert_eq(e.off, 40);
	cr_assert(strstr(e.msg, "expected one of MigrationHello; got Verdict"), "%s", e.msg);
	cr_assert_eq(ps_decode(verdict, sizeof(verdict), 40, 1u << PS_BYE, &pp, &e), -EBADMSG);
	cr_assert(strstr(e.msg, "(not a PDU of this protocol)"), "%s", e.msg);
}
