/* cli.c - helpers shared by the mblk subcommands: error sentences,
 * option values, JSON strings, opening and closing devices. */
#include <ctype.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mblk/backend.h>

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
	/* "4.00 MiB", as every message prints sizes, is taken as well. */
	char buf[64];
	const char *given = s, *sp = strchr(s, ' ');
	if (sp != NULL && strlen(s) < sizeof(buf) && sp > s &&
	    isdigit((unsigned char)sp[-1]) && isalpha((unsigned char)sp[1]) &&
	    strchr(sp + 1, ' ') == NULL) {
		memcpy(buf, s, (size_t)(sp - s));
		strcpy(buf + (sp - s), sp + 1);
		s = buf;
	}
	int r = mblk__parse_size(s, out);
	s = given;
	if (r == -ERANGE) {
		cli_usage(sub, "%s %s is too large", opt, s);
		return -1;
	}
	if (r < 0) {
		cli_usage(sub,
			  "%s wants a size such as 4096, 4K, 1.5M, 2G or "
			  "8 EiB (suffixes K, M, G, T, P, E), not '%s'",
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

int cli_parse_seconds(const char *sub, const char *opt, const char *s,
		      bool zero_ok, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || !(zero_ok ? v >= 0 : v > 0) ||
	    v > 1e6) {
		cli_usage(sub,
			  zero_ok ? "%s wants seconds, 0 or more, such as 1, "
				    "not '%s'"
				  : "%s wants seconds above 0, such as 5 or "
				    "0.5, not '%s'",
			  opt, s);
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

/* Signatures of the image formats people mistake for raw disks, with
 * the name qemu-img gives each (-f). */
static const struct cli_format {
	size_t off;
	const char *magic;
	size_t len;
	const char *name, *qemu;
} cli_formats[] = {
	{ 0, "QFI\xfb", 4, "qcow2", "qcow2" },
	{ 0, "KDMV", 4, "VMDK", "vmdk" },
	{ 0, "COWD", 4, "VMDK", "vmdk" },
	{ 0, "# Disk DescriptorFile", 21, "VMDK descriptor", "vmdk" },
	{ 0, "vhdxfile", 8, "VHDX", "vhdx" },
	{ 0, "conectix", 8, "VHD", "vpc" },
	{ 64, "\x7f\x10\xda\xbe", 4, "VDI", "vdi" },
	{ 0, "QEVM", 4, "QED", "qed" },
};

/* The format whose signature starts buf (n bytes), or NULL. */
static const struct cli_format *cli_format_of(const void *buf, size_t n)
{
	for (size_t i = 0; i < sizeof(cli_formats) / sizeof(cli_formats[0]);
	     i++)
		if (cli_formats[i].off + cli_formats[i].len <= n &&
		    memcmp((const char *)buf + cli_formats[i].off,
			   cli_formats[i].magic, cli_formats[i].len) == 0)
			return &cli_formats[i];
	return NULL;
}

static int cli_format_fail(const char *sub, const char *uri,
			   const struct cli_format *f)
{
	cli_fail(sub,
		 "'%s' is a %s image, and mblk reads raw images only; make a "
		 "raw copy with: qemu-img convert -f %s -O raw '%s' IMAGE.raw",
		 uri, f->name, f->qemu, uri);
	return -1;
}

/* The format of the file uri names, read with pread, or NULL. */
static const struct cli_format *cli_format_of_uri(const char *uri)
{
	char path[4096], buf[512];
	if (!cli_uri_file_path(uri, path, sizeof(path)))
		return NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	return n > 0 ? cli_format_of(buf, (size_t)n) : NULL;
}

int cli_check_raw(const char *sub, const char *uri, mblk_dev *dev)
{
	struct mblk_info inf;
	mblk_get_info(dev, &inf);
	uint64_t len = inf.sector_size;
	while (len < 512)
		len += inf.sector_size;
	if (inf.size_sectors * inf.sector_size < len)
		return 0;
	size_t align = inf.buf_align > 4096 ? inf.buf_align : 4096;
	void *buf = NULL;
	if (posix_memalign(&buf, align, (size_t)len) != 0)
		return 0;
	struct iovec iov = { buf, (size_t)len };
	const struct cli_format *f = NULL;
	if (mblk_read_sync(dev, 0, &iov, 1) == 0)
		for (size_t i = 0;
		     f == NULL &&
		     i < sizeof(cli_formats) / sizeof(cli_formats[0]);
		     i++)
			if (memcmp((char *)buf + cli_formats[i].off,
				   cli_formats[i].magic,
				   cli_formats[i].len) == 0)
				f = &cli_formats[i];
	free(buf);
	if (f == NULL)
		return 0;
	cli_fail(sub,
		 "'%s' is a %s image, and mblk reads raw images only; make a "
		 "raw copy with: qemu-img convert -f %s -O raw '%s' IMAGE.raw",
		 uri, f->name, f->qemu, uri);
	return -1;
}

/* Says why opening uri failed (r < 0) and returns r; 0 passes through. */
static int open_result(const char *sub, const char *uri, int r)
{
	const struct cli_format *f = r < 0 ? cli_format_of_uri(uri) : NULL;
	if (f != NULL) {
		/* Whatever the device objected to, this is the cause. */
		cli_format_fail(sub, uri, f);
	} else if (r < 0) {
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

int cli_parse_mirror_mode(const char *sub, const char *opt, const char *arg,
			  bool *active)
{
	if (strcmp(arg, "active") == 0)
		*active = true;
	else if (strcmp(arg, "background") == 0)
		*active = false;
	else
		return cli_usage(sub, "%s takes background or active, not '%s'",
				 opt, arg);
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
	/* file://localhost/p means /p (docs/uri.md). */
	if (strncasecmp(buf, "//localhost/", 12) == 0)
		memmove(buf, buf + 11, strlen(buf + 11) + 1);
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

/* The name of a ram: device ("" for an anonymous one), or NULL. */
static bool cli_ram_name(const char *uri, char *buf, size_t len)
{
	if (strncasecmp(uri, "ram:", 4) != 0)
		return false;
	size_t n = strcspn(uri + 4, "?");
	if (n + 1 > len)
		return false;
	memcpy(buf, uri + 4, n);
	buf[n] = '\0';
	return true;
}

bool cli_same_device(const char *a, const char *b)
{
	char pa[4096], pb[4096];
	if (cli_ram_name(a, pa, sizeof(pa)) && cli_ram_name(b, pb, sizeof(pb)))
		return pa[0] != '\0' && strcmp(pa, pb) == 0;
	if (strcmp(a, b) == 0) /* also when neither exists yet */
		return true;
	struct stat sa, sb;
	if (!cli_uri_file_path(a, pa, sizeof(pa)) ||
	    !cli_uri_file_path(b, pb, sizeof(pb)) || stat(pa, &sa) < 0 ||
	    stat(pb, &sb) < 0)
		return false;
	if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode))
		return sa.st_rdev == sb.st_rdev;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void cli_signal_cb(uv_signal_t *h, int signo)
{
	struct cli_signals *s = h->data;
	if (s->signo == 0) {
		s->signo = signo;
		s->stop(s->data);
	}
}

void cli_signals_start(struct cli_signals *s, uv_loop_t *loop,
		       void (*stop)(void *data), void *data)
{
	static const int signos[3] = { SIGINT, SIGTERM, SIGHUP };
	s->signo = 0;
	s->stop = stop;
	s->data = data;
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < 3; i++) {
		uv_signal_init(loop, &s->sig[i]);
		s->sig[i].data = s;
		/* One-shot: a second signal of the kind kills at once. */
		uv_signal_start_oneshot(&s->sig[i], cli_signal_cb, signos[i]);
		uv_unref((uv_handle_t *)&s->sig[i]);
	}
}

void cli_signals_stop(struct cli_signals *s)
{
	for (int i = 0; i < 3; i++)
		if (!uv_is_closing((uv_handle_t *)&s->sig[i]))
			uv_close((uv_handle_t *)&s->sig[i], NULL);
}

const char *cli_signal_name(int signo)
{
	return signo == SIGINT    ? "SIGINT"
	       : signo == SIGTERM ? "SIGTERM"
				  : "a signal";
}

struct cli_walk_wait {
	bool done;
	int status;
	struct mblk_extent e;
};

static void cli_walk_cb(void *data, int status, const struct mblk_extent *e,
			const char *error)
{
	struct cli_walk_wait *w = data;
	w->done = true;
	w->status = status;
	if (status < 0)
		mblk_set_error(status, "%s", error);
	else
		w->e = *e;
}

int cli_walk_sync(struct mblk__walk *w, uv_loop_t *loop, struct mblk_extent *e)
{
	struct cli_walk_wait wait = { 0 };
	int r = mblk__walk_next(w, e, cli_walk_cb, &wait);
	if (r != 0)
		return r < 0 ? r : 0;
	while (!wait.done)
		if (uv_run(loop, UV_RUN_ONCE) == 0 && !wait.done)
			return mblk_set_error(-EIO,
					      "%s: the extents were never "
					      "answered",
					      mblk_dev_name(w->dev));
	*e = wait.e;
	return wait.status;
}
