/* uri.c - parsing device URIs; see uri.h for the grammar. */
#include <ctype.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mblk/backend.h>
#include "uri.h"
#include "../common/hex.h"
#include "../common/size.h"

/* Decodes %XX in place; refuses a bad escape and an encoded NUL. */
static int decode(char *s, const char *what, const char *text)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (*r == '%') {
			int h = mblk__hexval((unsigned char)r[1]);
			int l = h < 0 ? -1 : mblk__hexval((unsigned char)r[2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				return mblk_set_error(-EINVAL,
						      "bad percent escape in the "
						      "%s of URI '%s'",
						      what, text);
			*w++ = (char)(h * 16 + l);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return 0;
}

static bool is_scheme_char(int c, bool first)
{
	return isalpha(c) ||
	       (!first && (isdigit(c) || c == '+' || c == '-' || c == '.'));
}

/* The end of a bracketed value starting at p ('['): the matching ']',
 * or NULL when the brackets do not balance. */
static const char *bracket_end(const char *p)
{
	int depth = 0;
	for (; *p; p++) {
		if (*p == '[')
			depth++;
		else if (*p == ']' && --depth == 0)
			return p;
	}
	return NULL;
}

/* Adds one key=value pair: key from [k, k+kl), value [v, v+vl), the value
 * percent-decoded unless raw. */
static int add_param(struct mblk_uri *u, const char *k, size_t kl,
		     const char *v, size_t vl, bool raw)
{
	const char *text = u->text;
	if (kl == 0)
		return mblk_set_error(-EINVAL,
				      "'%.*s' in URI '%s' is not key=value",
				      (int)(vl + 1), v - 1, text);
	if (u->nparams == MBLK__URI_MAX_PARAMS)
		return mblk_set_error(-EINVAL, "URI '%s' has more than %d keys",
				      text, MBLK__URI_MAX_PARAMS);
	char *key = strndup(k, kl), *val = strndup(v, vl);
	int i = u->nparams++;
	u->params[i].key = key;
	u->params[i].value = val;
	u->params[i].used = false;
	if (key == NULL || val == NULL)
		return mblk_set_error(-ENOMEM, "no memory to parse URI '%s'",
				      text);
	int r;
	if ((r = decode(key, "query", text)) < 0 ||
	    (!raw && (r = decode(val, "query", text)) < 0))
		return r;
	for (int j = 0; j < i; j++)
		if (strcmp(u->params[j].key, key) == 0)
			return mblk_set_error(-EINVAL,
					      "key '%s' appears twice in URI "
					      "'%s'",
					      key, text);
	return 0;
}

/* key=value pairs separated by '&'; a value in brackets is verbatim and
 * may hold '&', '?', '=' and '%' of its own. Empty pairs are ignored. */
static int parse_query(struct mblk_uri *u, const char *q)
{
	const char *text = u->text;
	while (*q) {
		if (*q == '&') {
			q++;
			continue;
		}
		size_t kl = strcspn(q, "=&");
		if (q[kl] != '=')
			return mblk_set_error(-EINVAL,
					      "'%.*s' in URI '%s' is not "
					      "key=value",
					      (int)kl, q, text);
		const char *v = q + kl + 1, *vend;
		bool raw = *v == '[';
		if (raw) {
			const char *close = bracket_end(v);
			if (close == NULL)
				return mblk_set_error(
					-EINVAL,
					"key '%.*s' in URI '%s': the '[' that "
					"opens its value has no matching ']'",
					(int)kl, q, text);
			if (close[1] != '\0' && close[1] != '&')
				return mblk_set_error(
					-EINVAL,
					"key '%.*s' in URI '%s': '%c' after "
					"the ']' that closes its value; write "
					"'&' before the next key",
					(int)kl, q, text, close[1]);
			int r = add_param(u, q, kl, v + 1,
					  (size_t)(close - v - 1), true);
			if (r < 0)
				return r;
			q = close + 1;
			continue;
		}
		vend = v + strcspn(v, "&");
		int r = add_param(u, q, kl, v, (size_t)(vend - v), false);
		if (r < 0)
			return r;
		q = vend;
	}
	return 0;
}

int mblk__uri_parse(const char *text, const char *const *known,
		    struct mblk_uri *u)
{
	memset(u, 0, sizeof(*u));
	u->text = text;
	if (text == NULL || *text == '\0')
		return mblk_set_error(-EINVAL, "empty device URI; try ram:NAME "
					       "or a file path");

	/* A scheme is letters [letters digits + - .] then ':'. */
	size_t n = 0;
	while (text[n] && is_scheme_char((unsigned char)text[n], n == 0))
		n++;
	const char *rest = text;
	if (n > 0 && text[n] == ':') {
		bool found = false;
		for (const char *const *k = known; *k; k++)
			if (strlen(*k) == n && strncasecmp(*k, text, n) == 0)
				found = true;
		if (!found) {
			char list[256] = "";
			for (const char *const *k = known; *k; k++) {
				strncat(list, *k,
					sizeof(list) - strlen(list) - 1);
				if (k[1])
					strncat(list, ", ",
						sizeof(list) - strlen(list) -
							1);
			}
			return mblk_set_error(
				-EINVAL,
				"unknown scheme '%.*s' in URI '%s'; "
				"known schemes: %s (a file whose "
				"name has a colon: write file:%s "
				"or ./%s)",
				(int)n, text, text, list, text, text);
		}
		u->scheme = strndup(text, n);
		for (char *p = u->scheme; p && *p; p++)
			*p = (char)tolower((unsigned char)*p);
		rest = text + n + 1;
	} else {
		/* A bare path: the whole string, with no query. */
		u->scheme = strdup("file");
		u->path = strdup(text);
		if (!u->scheme || !u->path) {
			mblk__uri_free(u);
			return mblk_set_error(-ENOMEM, "no memory");
		}
		return 0;
	}
	if (u->scheme == NULL)
		return mblk_set_error(-ENOMEM, "no memory");

	const char *q = strchr(rest, '?');
	u->path = q ? strndup(rest, (size_t)(q - rest)) : strdup(rest);
	if (u->path == NULL)
		goto nomem;
	int r = decode(u->path, "path", text);
	if (r < 0)
		goto fail;
	if (q == NULL || q[1] == '\0')
		return 0;

	r = parse_query(u, q + 1);
	if (r < 0)
		goto fail;
	return 0;
nomem:
	r = mblk_set_error(-ENOMEM, "no memory to parse URI '%s'", text);
fail:
	mblk__uri_free(u);
	return r;
}

void mblk__uri_free(struct mblk_uri *u)
{
	free(u->scheme);
	free(u->path);
	for (int i = 0; i < u->nparams; i++) {
		free(u->params[i].key);
		free(u->params[i].value);
	}
	memset(u, 0, sizeof(*u));
}

const char *mblk_uri_get(struct mblk_uri *u, const char *key)
{
	for (int i = 0; i < u->nparams; i++)
		if (strcmp(u->params[i].key, key) == 0) {
			u->params[i].used = true;
			return u->params[i].value;
		}
	return NULL;
}

int mblk_uri_get_size(struct mblk_uri *u, const char *key, uint64_t *out)
{
	const char *v = mblk_uri_get(u, key);
	if (v == NULL)
		return 0;
	int r = mblk__parse_size(v, out);
	if (r < 0)
		return mblk_set_error(-EINVAL,
				      "%s=%s in URI '%s': %s; write a number "
				      "of bytes with an optional K, M, G, T "
				      "suffix (1024-based), like 512, 64K, 1G",
				      key, v, u->text,
				      r == -ERANGE ? "too large"
						   : "not a size");
	return 0;
}

int mblk_uri_get_uint(struct mblk_uri *u, const char *key, uint64_t *out)
{
	const char *v = mblk_uri_get(u, key);
	if (v == NULL)
		return 0;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || errno != 0)
		return mblk_set_error(-EINVAL,
				      "%s=%s in URI '%s' is not a whole number",
				      key, v, u->text);
	*out = x;
	return 0;
}

int mblk_uri_get_bool(struct mblk_uri *u, const char *key, bool *out)
{
	const char *v = mblk_uri_get(u, key);
	if (v == NULL)
		return 0;
	if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "on") ||
	    !strcasecmp(v, "yes"))
		*out = true;
	else if (!strcmp(v, "0") || !strcasecmp(v, "false") ||
		 !strcasecmp(v, "off") || !strcasecmp(v, "no"))
		*out = false;
	else
		return mblk_set_error(-EINVAL,
				      "%s=%s in URI '%s': expected 0 or 1", key,
				      v, u->text);
	return 0;
}

int mblk__uri_finish(struct mblk_uri *u, const char *accepted)
{
	for (int i = 0; i < u->nparams; i++)
		if (!u->params[i].used)
			return mblk_set_error(-EINVAL,
					      "unknown key '%s' in URI '%s'; "
					      "the %s device accepts: %s",
					      u->params[i].key, u->text,
					      u->scheme, accepted);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The accessors of <mblk/backend.h>                                   */

const char *mblk_uri_text(const struct mblk_uri *u)
{
	return u->text;
}

const char *mblk_uri_scheme(const struct mblk_uri *u)
{
	return u->scheme;
}

const char *mblk_uri_path(const struct mblk_uri *u)
{
	return u->path;
}

int mblk_uri_finish(struct mblk_uri *u)
{
	char list[512] = "";
	size_t n = 0;
	for (const struct mblk_uri_key *k = u->keys; k && k->name; k++) {
		int w = snprintf(list + n, sizeof(list) - n, "%s%s",
				 n ? ", " : "", k->name);
		if (w < 0 || (size_t)w >= sizeof(list) - n)
			break;
		n += (size_t)w;
	}
	return mblk__uri_finish(u, n ? list : "no keys");
}

char *mblk_uri_encode(const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *w = out;
	if (out == NULL)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || strchr("-._~", *p) ||
		    (keep != NULL && *p != '\0' && strchr(keep, *p))) {
			*w++ = (char)*p;
		} else {
			*w++ = '%';
			*w++ = hex[*p >> 4];
			*w++ = hex[*p & 15];
		}
	}
	*w = '\0';
	return out;
}

int mblk_uri_nest(char *out, size_t cap, const char *inner)
{
	int depth = 0;
	bool balanced = true;
	for (const char *p = inner; *p; p++) {
		if (*p == '[')
			depth++;
		else if (*p == ']' && --depth < 0)
			balanced = false;
	}
	if (balanced && depth == 0)
		return snprintf(out, cap, "[%s]", inner);
	char *e = mblk_uri_encode(inner, "/:?=");
	if (e == NULL)
		return mblk_set_error(-ENOMEM, "no memory for a URI");
	int n = snprintf(out, cap, "%s", e);
	free(e);
	return n;
}
