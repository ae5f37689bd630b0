/* cli.c - helpers shared by the mblk subcommands: error sentences,
 * option values, JSON strings, opening and closing devices. */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "../common/hex.h"
#include "../common/size.h"

int cli_fail(const char *sub, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "mblk %s: ", sub);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_FAIL;
}

int cli_usage(const char *sub, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "mblk %s: ", sub);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; see 'mblk %s --help'.\n", sub);
	return CLI_USAGE;
}

int cli_bad_option(const char *sub, int c, char **argv)
{
	if (c == ':')
		return cli_usage(sub, "option '%s' needs a value",
				 argv[optind - 1]);
	if (optopt != 0)
		return cli_usage(sub, "unknown option '-%c'", optopt);
	return cli_usage(sub, "unknown option '%s'", argv[optind - 1]);
}

int cli_parse_size(const char *sub, const char *opt, const char *s,
		   uint64_t *out)
{
	int r = mblk__parse_size(s, out);
	if (r == -ERANGE) {
		cli_usage(sub, "%s %s is too large", opt, s);
		return -1;
	}
	if (r < 0) {
		cli_usage(sub,
			  "%s wants a size such as 4096, 4K, 1M or 2G, "
			  "not '%s'",
			  opt, s);
		return -1;
	}
	return 0;
}

int cli_parse_uint(const char *sub, const char *opt, const char *s,
		   uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!isdigit((unsigned char)*s) || *end != '\0' || errno != 0 ||
	    v < min || v > max) {
		cli_usage(sub,
			  "%s wants a whole number from %llu to %llu, "
			  "not '%s'",
			  opt, (unsigned long long)min, (unsigned long long)max,
			  s);
		return -1;
	}
	*out = v;
	return 0;
}

void cli_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

const char *cli_cap_name(uint32_t bit)
{
	return mblk_cap_name(bit);
}

/* Says why opening uri failed (r < 0) and returns r; 0 passes through. */
static int open_result(const char *sub, const char *uri, int r)
{
	if (r < 0) {
		const char *why = mblk_last_error();
		cli_fail(sub, "cannot open '%s': %s", uri,
			 why[0] ? why : mblk_strerror(r));
	}
	return r;
}

int cli_open(const char *sub, uv_loop_t *loop, const char *uri, unsigned flags,
	     mblk_dev **devp)
{
	return open_result(sub, uri, mblk_open_sync(loop, uri, flags, devp));
}

int cli_open_dst(const char *sub, uv_loop_t *loop, const char *uri,
		 unsigned flags, bool direct, mblk_dev **devp)
{
	char path[4096];
	char *enc = NULL, *duri = NULL;
	if (direct && strchr(uri, '?') == NULL &&
	    cli_uri_file_path(uri, path, sizeof(path)) &&
	    (enc = mblk__pct_encode_path(path)) != NULL &&
	    (duri = malloc(strlen(enc) + sizeof("file:?buffered=0"))) != NULL) {
		sprintf(duri, "file:%s?buffered=0", enc);
		int r = mblk_open_sync(loop, duri, flags, devp);
		if (r != -EINVAL) {
			/* Opened, or failed for a reason O_DIRECT has
			 * nothing to do with (missing, locked, denied):
			 * said once, not again by a second open. */
			free(enc);
			free(duri);
			return open_result(sub, uri, r);
		}
		/* -EINVAL: O_DIRECT refused, or the file does not fit its
		 * alignment. */
		fprintf(stderr,
			"mblk %s: note: writing '%s' through the page cache: "
			"%s\n",
			sub, uri, mblk_last_error());
	}
	free(enc);
	free(duri);
	return cli_open(sub, loop, uri, flags, devp);
}

int cli_parse_dst_cache(const char *sub, const char *arg, bool *direct)
{
	if (strcmp(arg, "direct") == 0)
		*direct = true;
	else if (strcmp(arg, "buffered") == 0)
		*direct = false;
	else
		return cli_usage(sub,
				 "--dst-cache takes direct or buffered, "
				 "not '%s'",
				 arg);
	return 0;
}

void cli_close(uv_loop_t *loop, mblk_dev *dev)
{
	if (dev == NULL)
		return;
	mblk_close(dev, NULL, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
}

/* Mirrors the scheme rule of src/core/uri.c: a scheme is a letter, then
 * letters, digits, '+', '-' or '.', then ':'; anything else is a path. */
bool cli_uri_file_path(const char *uri, char *buf, size_t len)
{
	size_t n = 0;
	while (uri[n] && (isalpha((unsigned char)uri[n]) ||
			  (n > 0 && (isdigit((unsigned char)uri[n]) ||
				     strchr("+-.", uri[n])))))
		n++;
	if (n == 0 || uri[n] != ':') {
		if (strlen(uri) >= len)
			return false;
		strcpy(buf, uri);
		return true;
	}
	if (n != 4 || strncasecmp(uri, "file", 4) != 0)
		return false;
	const char *p = uri + 5;
	size_t w = 0;
	for (; *p && *p != '?'; p++) {
		int c = (unsigned char)*p;
		if (c == '%') {
			int h = mblk__hexval((unsigned char)p[1]);
			int l = h < 0 ? -1 : mblk__hexval((unsigned char)p[2]);
			if (h < 0 || l < 0)
				return false;
			c = h * 16 + l;
			p += 2;
		}
		if (w + 1 >= len)
			return false;
		buf[w++] = (char)c;
	}
	buf[w] = '\0';
	return w > 0;
}

int cli_create_sparse_file(const char *sub, const char *path, uint64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0) {
		cli_fail(sub, "cannot create '%s': %s", path, strerror(errno));
		return -1;
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		int e = errno;
		close(fd);
		unlink(path);
		cli_fail(sub,
			 "cannot set the size of '%s' to %" PRIu64 " bytes: %s",
			 path, size, strerror(e));
		return -1;
	}
	close(fd);
	return 1;
}
