/* uri.c - NBD URIs (doc/uri.md of the NBD project) to a client
 * configuration, and back.
 *
 *   nbd://HOST[:PORT]/[EXPORT][?key=value...]     TCP
 *   nbds://...                                    TCP, TLS required
 *   nbd+unix:///[EXPORT]?socket=PATH[&...]        a unix socket
 *   nbds+unix:///[EXPORT]?socket=PATH[&...]       the same with TLS
 *
 * The core hands over everything between "scheme:" and "?" decoded
 * (mblk_uri_path); the authority is parsed here: an IPv6 literal in
 * brackets ("[::1]:10809"), userinfo before '@' as the TLS user name.
 * The export name is the path without its first '/', as the URI spec
 * says ("nbd://h//disk" names "/disk").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

static int nbduri_dup(char **dst, const char *src, size_t n)
{
	*dst = strndup(src, n);
	return *dst ? 0 : -ENOMEM;
}

static int nbduri_key(struct mblk_uri *u, const char *key, char **dst)
{
	const char *v = mblk_uri_get(u, key);
	if (v == NULL)
		return 0;
	return nbduri_dup(dst, v, strlen(v));
}

/* Splits "//authority/export" (TCP) or "///export" (unix). */
static int nbduri_split(struct mblk__nbdc_cfg *cfg, const char *text,
			const char *path)
{
	if (strncmp(path, "//", 2) != 0)
		return mblk_set_error(-EINVAL,
				      "'%s': an NBD URI is %s://HOST[:PORT]/"
				      "EXPORT or %s+unix:///EXPORT?socket=PATH",
				      text, cfg->tls ? "nbds" : "nbd",
				      cfg->tls ? "nbds" : "nbd");
	const char *a = path + 2;
	const char *slash = strchr(a, '/');
	size_t alen = slash ? (size_t)(slash - a) : strlen(a);
	const char *exp = slash ? slash + 1 : "";
	if (nbduri_dup(&cfg->export_name, exp, strlen(exp)) < 0)
		return -ENOMEM;
	if (cfg->unix_socket) {
		if (alen != 0)
			return mblk_set_error(
				-EINVAL,
				"'%s': a unix-socket NBD URI has no host "
				"(write %s:///EXPORT?socket=PATH)",
				text, cfg->scheme);
		return 0;
	}
	const char *at = memchr(a, '@', alen);
	if (at) {
		if (cfg->tls_username == NULL &&
		    nbduri_dup(&cfg->tls_username, a, (size_t)(at - a)) < 0)
			return -ENOMEM;
		alen -= (size_t)(at + 1 - a);
		a = at + 1;
	}
	const char *host = a, *port = NULL;
	size_t hlen = alen, plen = 0;
	if (alen > 0 && a[0] == '[') {
		const char *close = memchr(a, ']', alen);
		if (close == NULL)
			return mblk_set_error(-EINVAL,
					      "'%s': an IPv6 address needs its "
					      "closing ']'",
					      text);
		host = a + 1;
		hlen = (size_t)(close - a - 1);
		const char *rest = close + 1;
		size_t rlen = alen - (size_t)(rest - a);
		if (rlen > 0) {
			if (rest[0] != ':')
				return mblk_set_error(
					-EINVAL,
					"'%s': expected ':PORT' after the IPv6 "
					"address",
					text);
			port = rest + 1;
			plen = rlen - 1;
		}
	} else {
		const char *colon = memchr(a, ':', alen);
		if (colon) {
			hlen = (size_t)(colon - a);
			port = colon + 1;
			plen = alen - hlen - 1;
		}
	}
	if (hlen == 0)
		return mblk_set_error(-EINVAL, "'%s': no host name", text);
	if (port && plen == 0)
		return mblk_set_error(-EINVAL, "'%s': empty port after ':'",
				      text);
	for (size_t i = 0; port && i < plen; i++)
		if (port[i] < '0' || port[i] > '9')
			return mblk_set_error(-EINVAL,
					      "'%s': the port '%.*s' is not a "
					      "number",
					      text, (int)plen, port);
	if (nbduri_dup(&cfg->host, host, hlen) < 0)
		return -ENOMEM;
	if (port)
		return nbduri_dup(&cfg->port, port, plen);
	return nbduri_dup(&cfg->port, MBLK__NBDC_DEFAULT_PORT,
			  strlen(MBLK__NBDC_DEFAULT_PORT));
}

int mblk__nbdc_cfg_parse(struct mblk_uri *u, struct mblk__nbdc_cfg *cfg)
{
	const char *text = mblk_uri_text(u);
	const char *scheme = mblk_uri_scheme(u);
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->scheme, sizeof(cfg->scheme), "%s", scheme);
	cfg->tls = strncmp(scheme, "nbds", 4) == 0;
	cfg->unix_socket = strstr(scheme, "+unix") != NULL;
	cfg->connections = 1;

	int r;
	if ((r = nbduri_key(u, "tls-certificates", &cfg->tls_certificates)) <
		    0 ||
	    (r = nbduri_key(u, "tls-psk-file", &cfg->tls_psk_file)) < 0 ||
	    (r = nbduri_key(u, "tls-username", &cfg->tls_username)) < 0 ||
	    (r = nbduri_key(u, "socket", &cfg->socket)) < 0)
		return mblk_set_error(r, "'%s': no memory", text);
	if ((r = nbduri_split(cfg, text, mblk_uri_path(u))) < 0)
		return r;
	if ((r = mblk_uri_get_uint(u, "timeout", &cfg->timeout_s)) < 0 ||
	    (r = mblk_uri_get_uint(u, "connections", &cfg->connections)) < 0 ||
	    (r = mblk_uri_get_uint(u, "reconnect", &cfg->reconnect_s)) < 0 ||
	    (r = mblk_uri_get_bool(u, "read-only", &cfg->read_only)) < 0)
		return r;
	if (cfg->unix_socket && (cfg->socket == NULL || !cfg->socket[0]))
		return mblk_set_error(-EINVAL,
				      "'%s': %s needs ?socket=PATH, the unix "
				      "socket of the server",
				      text, cfg->scheme);
	if (!cfg->unix_socket && cfg->socket)
		return mblk_set_error(-EINVAL,
				      "'%s': socket= is for nbd+unix:// and "
				      "nbds+unix:// only",
				      text);
	if (cfg->connections < 1 || cfg->connections > MBLK__NBDC_MAX_CONNS)
		return mblk_set_error(-EINVAL,
				      "'%s': connections=%llu: give 1 to %d",
				      text,
				      (unsigned long long)cfg->connections,
				      MBLK__NBDC_MAX_CONNS);
	if (cfg->timeout_s > 86400 || cfg->reconnect_s > 86400)
		return mblk_set_error(-EINVAL,
				      "'%s': timeout and reconnect are seconds, "
				      "at most 86400",
				      text);
	if (!cfg->tls && (cfg->tls_certificates || cfg->tls_psk_file))
		return mblk_set_error(-EINVAL,
				      "'%s': TLS keys need the nbds:// or "
				      "nbds+unix:// scheme",
				      text);
	if (cfg->tls_certificates && cfg->tls_psk_file)
		return mblk_set_error(-EINVAL,
				      "'%s': give tls-certificates or "
				      "tls-psk-file, not both",
				      text);
	char server[600];
	if (cfg->unix_socket)
		snprintf(server, sizeof(server), "NBD server %s", cfg->socket);
	else
		snprintf(server, sizeof(server),
			 strchr(cfg->host, ':') ? "NBD server [%s]:%s"
						: "NBD server %s:%s",
			 cfg->host, cfg->port);
	if (nbduri_dup(&cfg->server, server, strlen(server)) < 0)
		return mblk_set_error(-ENOMEM, "'%s': no memory", text);
	return 0;
}

void mblk__nbdc_cfg_free(struct mblk__nbdc_cfg *cfg)
{
	free(cfg->host);
	free(cfg->port);
	free(cfg->socket);
	free(cfg->export_name);
	free(cfg->tls_certificates);
	free(cfg->tls_psk_file);
	free(cfg->tls_username);
	free(cfg->server);
	memset(cfg, 0, sizeof(*cfg));
}

/* Appends s percent-encoded (everything but unreserved characters and
 * those in keep). */
static void nbduri_put(char *buf, size_t len, size_t *n, const char *s,
		       const char *keep)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		bool plain = (ch >= 'a' && ch <= 'z') ||
			     (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || strchr("-._~", ch) ||
			     (keep && strchr(keep, ch));
		char tmp[4];
		int t = plain ? snprintf(tmp, sizeof(tmp), "%c", ch)
			      : snprintf(tmp, sizeof(tmp), "%%%02X", ch);
		for (int i = 0; i < t; i++) {
			if (*n + 1 < len)
				buf[*n] = tmp[i];
			(*n)++;
		}
	}
	if (len)
		buf[*n < len ? *n : len - 1] = '\0';
}

static void nbduri_param(char *buf, size_t len, size_t *n, bool *first,
			 const char *key, const char *value)
{
	nbduri_put(buf, len, n, *first ? "?" : "&", "?&");
	*first = false;
	nbduri_put(buf, len, n, key, NULL);
	nbduri_put(buf, len, n, "=", "=");
	nbduri_put(buf, len, n, value, "/:");
}

int mblk__nbdc_cfg_uri(const struct mblk__nbdc_cfg *cfg, char *buf, size_t len,
		       bool with_device_keys)
{
	size_t n = 0;
	bool first = true;
	char num[32];
	if (len)
		buf[0] = '\0';
	nbduri_put(buf, len, &n, cfg->scheme, "+");
	nbduri_put(buf, len, &n, "://", ":/");
	if (!cfg->unix_socket) {
		bool v6 = strchr(cfg->host, ':') != NULL;
		if (v6)
			nbduri_put(buf, len, &n, "[", "[");
		nbduri_put(buf, len, &n, cfg->host, ":");
		if (v6)
			nbduri_put(buf, len, &n, "]", "]");
		nbduri_put(buf, len, &n, ":", ":");
		nbduri_put(buf, len, &n, cfg->port, NULL);
	}
	nbduri_put(buf, len, &n, "/", "/");
	nbduri_put(buf, len, &n, cfg->export_name, "/");
	if (cfg->unix_socket)
		nbduri_param(buf, len, &n, &first, "socket", cfg->socket);
	if (cfg->tls_certificates)
		nbduri_param(buf, len, &n, &first, "tls-certificates",
			     cfg->tls_certificates);
	if (cfg->tls_psk_file)
		nbduri_param(buf, len, &n, &first, "tls-psk-file",
			     cfg->tls_psk_file);
	if (cfg->tls_username)
		nbduri_param(buf, len, &n, &first, "tls-username",
			     cfg->tls_username);
	if (!with_device_keys)
		return (int)n;
	snprintf(num, sizeof(num), "%llu",
		 (unsigned long long)(cfg->timeout_s
					      ? cfg->timeout_s
					      : MBLK__NBDC_DEFAULT_TIMEOUT));
	nbduri_param(buf, len, &n, &first, "timeout", num);
	snprintf(num, sizeof(num), "%llu",
		 (unsigned long long)cfg->connections);
	nbduri_param(buf, len, &n, &first, "connections", num);
	snprintf(num, sizeof(num), "%llu",
		 (unsigned long long)cfg->reconnect_s);
	nbduri_param(buf, len, &n, &first, "reconnect", num);
	if (cfg->read_only)
		nbduri_param(buf, len, &n, &first, "read-only", "1");
	return (int)n;
}
