/* test-nbd-uri.c - unit tests of the NBD client's URI parsing
 * (src/nbd/client/uri.c): the forms of the NBD URI spec (authority, IPv6
 * in brackets, default port, export names with and without a leading
 * '/', percent-decoding, user@host), the device keys, every refusal with
 * its sentence, and the printed URI parsing back to the same settings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <mblk/backend.h>
#include "core/uri.h"
#include "nbd/client/client.h"

extern const struct mblk_scheme mblk__scheme_nbd;

static const char *const known[] = { "nbd", "nbds", "nbd+unix", "nbds+unix",
				     NULL };

/* Parses text into cfg; returns the status, cfg filled on success. */
static int parse(const char *text, struct mblk__nbdc_cfg *cfg)
{
	struct mblk_uri u;
	memset(cfg, 0, sizeof(*cfg));
	int r = mblk__uri_parse(text, known, &u);
	if (r < 0)
		return r;
	u.keys = mblk__scheme_nbd.keys;
	r = mblk__nbdc_cfg_parse(&u, cfg);
	if (r == 0)
		r = mblk_uri_finish(&u);
	mblk__uri_free(&u);
	if (r < 0)
		mblk__nbdc_cfg_free(cfg);
	return r;
}

static void expect_ok(const char *text, struct mblk__nbdc_cfg *cfg)
{
	int r = parse(text, cfg);
	if (r != 0)
		print_error("'%s': %d %s\n", text, r, mblk_last_error());
	assert_int_equal(r, 0);
}

static void expect_refused(const char *text, const char *needle)
{
	struct mblk__nbdc_cfg cfg;
	int r = parse(text, &cfg);
	if (r == 0)
		mblk__nbdc_cfg_free(&cfg);
	if (r != -EINVAL || strstr(mblk_last_error(), needle) == NULL)
		print_error("'%s': got %d \"%s\", want -EINVAL and \"%s\"\n",
			    text, r, mblk_last_error(), needle);
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(mblk_last_error(), needle));
}

static void test_tcp_forms(void **state)
{
	(void)state;
	struct mblk__nbdc_cfg c;
	expect_ok("nbd://example.com:10810/disk", &c);
	assert_string_equal(c.host, "example.com");
	assert_string_equal(c.port, "10810");
	assert_string_equal(c.export_name, "disk");
	assert_false(c.tls);
	assert_false(c.unix_socket);
	assert_string_equal(c.server, "NBD server example.com:10810");
	mblk__nbdc_cfg_free(&c);

	expect_ok("nbd://example.com", &c); /* default port, export "" */
	assert_string_equal(c.port, "10809");
	assert_string_equal(c.export_name, "");
	mblk__nbdc_cfg_free(&c);

	expect_ok("nbd://h//disk", &c); /* the spec: export "/disk" */
	assert_string_equal(c.export_name, "/disk");
	mblk__nbdc_cfg_free(&c);

	expect_ok("nbd://h/hello%20world", &c);
	assert_string_equal(c.export_name, "hello world");
	mblk__nbdc_cfg_free(&c);

	expect_ok("nbds://[::1]:10900/x", &c);
	assert_string_equal(c.host, "::1");
	assert_string_equal(c.port, "10900");
	assert_true(c.tls);
	assert_string_equal(c.server, "NBD server [::1]:10900");
	mblk__nbdc_cfg_free(&c);

	expect_ok("nbds://[fe80::1]/", &c);
	assert_string_equal(c.host, "fe80::1");
	assert_string_equal(c.port, "10809");
	mblk__nbdc_cfg_free(&c);

	expect_ok("nbds://alice@h/e?tls-psk-file=/k.psk", &c);
	assert_string_equal(c.tls_username, "alice");
	assert_string_equal(c.host, "h");
	mblk__nbdc_cfg_free(&c);
}

static void test_unix_forms(void **state)
{
	(void)state;
	struct mblk__nbdc_cfg c;
	expect_ok("nbd+unix:///disk?socket=/run/s.sock", &c);
	assert_true(c.unix_socket);
	assert_null(c.host);
	assert_string_equal(c.socket, "/run/s.sock");
	assert_string_equal(c.export_name, "disk");
	assert_string_equal(c.server, "NBD server /run/s.sock");
	mblk__nbdc_cfg_free(&c);

	expect_ok("nbds+unix:///?socket=/s&tls-certificates=/pki", &c);
	assert_true(c.tls);
	assert_string_equal(c.tls_certificates, "/pki");
	mblk__nbdc_cfg_free(&c);
}

static void test_device_keys(void **state)
{
	(void)state;
	struct mblk__nbdc_cfg c;
	expect_ok("nbd+unix:///?socket=/s&timeout=5&connections=4&reconnect=30"
		  "&read-only=1",
		  &c);
	assert_int_equal(c.timeout_s, 5);
	assert_int_equal(c.connections, 4);
	assert_int_equal(c.reconnect_s, 30);
	assert_true(c.read_only);
	mblk__nbdc_cfg_free(&c);
	expect_ok("nbd://h/", &c);
	assert_int_equal(c.connections, 1);
	assert_int_equal(c.timeout_s, 0); /* the default, 60 s */
	assert_int_equal(c.reconnect_s, 0);
	mblk__nbdc_cfg_free(&c);
}

static void test_refusals(void **state)
{
	(void)state;
	expect_refused("nbd+unix:///disk", "needs ?socket=PATH");
	expect_refused("nbd://h/?socket=/s", "socket= is for nbd+unix");
	expect_refused("nbd+unix://host/?socket=/s", "has no host");
	expect_refused("nbd:disk", "an NBD URI is nbd://HOST");
	expect_refused("nbd://:10809/", "no host name");
	expect_refused("nbd://h:/", "empty port");
	expect_refused("nbd://h:ab/", "the port 'ab' is not a number");
	expect_refused("nbd://[::1/", "closing ']'");
	expect_refused("nbd://[::1]x/", "expected ':PORT'");
	expect_refused("nbd://h/?connections=0", "connections=0: give 1 to 16");
	expect_refused("nbd://h/?connections=17", "give 1 to 16");
	expect_refused("nbd://h/?timeout=x", "timeout");
	expect_refused("nbd://h/?tls-certificates=/p",
		       "TLS keys need the nbds:// or nbds+unix:// scheme");
	expect_refused("nbds://h/?tls-certificates=/p&tls-psk-file=/k",
		       "not both");
	expect_refused("nbd://h/?timout=5", "unknown key 'timout'");
}

/* The printed URI reopens the same export with the same settings. */
static void test_round_trip(void **state)
{
	(void)state;
	static const char *const uris[] = {
		"nbd://example.com:10810/a%20b?timeout=7&connections=2",
		"nbds://[::1]/x?tls-certificates=/etc/pki/a%26b&reconnect=9",
		"nbd+unix:///disk?socket=/run/a%20b.sock&read-only=1",
		"nbds+unix:///?socket=/s&tls-psk-file=/k&tls-username=u",
		"nbd://h//slash",
	};
	for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
		struct mblk__nbdc_cfg a, b;
		expect_ok(uris[i], &a);
		char buf[1024];
		int n = mblk__nbdc_cfg_uri(&a, buf, sizeof(buf), true);
		assert_true(n > 0 && (size_t)n < sizeof(buf));
		expect_ok(buf, &b);
		if (strcmp(a.export_name, b.export_name) != 0 ||
		    strcmp(a.server, b.server) != 0)
			print_error("'%s' printed as '%s'\n", uris[i], buf);
		assert_string_equal(a.scheme, b.scheme);
		assert_string_equal(a.export_name, b.export_name);
		assert_string_equal(a.server, b.server);
		assert_int_equal(a.connections, b.connections);
		assert_int_equal(a.reconnect_s, b.reconnect_s);
		assert_int_equal(a.read_only, b.read_only);
		assert_true((a.tls_certificates == NULL) ==
			    (b.tls_certificates == NULL));
		if (a.tls_certificates)
			assert_string_equal(a.tls_certificates,
					    b.tls_certificates);
		if (a.tls_username)
			assert_string_equal(a.tls_username, b.tls_username);
		/* Too small a buffer: snprintf's contract. */
		char tiny[8];
		assert_int_equal(mblk__nbdc_cfg_uri(&a, tiny, sizeof(tiny),
						    true),
				 n);
		assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
		mblk__nbdc_cfg_free(&a);
		mblk__nbdc_cfg_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_forms),
		cmocka_unit_test(test_unix_forms),
		cmocka_unit_test(test_device_keys),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
