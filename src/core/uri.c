/* uri.c - parsing device URIs; see uri.h for the grammar. */
#include <ctype.h>
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

int mblk__uri_parse(const char *text, const char *const *known,
		    struct mblk__uri *u)
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

	char *query = strdup(q + 1);
	if (query == NULL)
		goto nomem;
	char *save = NULL;
	for (char *kv = strtok_r(query, "&", &save); kv;
	     kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		if (eq == NULL || eq == kv) {
			r = mblk_set_error(-EINVAL,
					   "'%s' in URI '%s' is not key=value",
					   kv, text);
			free(query);
			goto fail;
		}
		if (u->nparams == MBLK__URI_MAX_PARAMS) {
			r = mblk_set_error(-EINVAL,
					   "URI '%s' has more than %d keys",
					   text, MBLK__URI_MAX_PARAMS);
			free(query);
			goto fail;
		}
		*eq = '\0';
		char *k = strdup(kv), *v = strdup(eq + 1);
		int i = u->nparams++;
		u->params[i].key = k;
		u->params[i].value = v;
		if (!k || !v) {
			free(query);
			goto nomem;
		}
		if ((r = decode(k, "query", text)) < 0 ||
		    (r = decode(v, "query", text)) < 0) {
			free(query);
			goto fail;
		}
		for (int j = 0; j < i; j++)
			if (strcmp(u->params[j].key, k) == 0) {
				r = mblk_set_error(-EINVAL,
						   "key '%s' appears twice in "
						   "URI '%s'",
						   k, text);
				free(query);
				goto fail;
			}
	}
	free(query);
	return 0;
nomem:
	r = mblk_set_error(-ENOMEM, "no memory to parse URI '%s'", text);
fail:
	mblk__uri_free(u);
	return r;
}

void mblk__uri_free(struct mblk__uri *u)
{
	free(u->scheme);
	free(u->path);
	for (int i = 0; i < u->nparams; i++) {
		free(u->params[i].key);
		free(u->params[i].value);
	}
	memset(u, 0, sizeof(*u));
}

const char *mblk__uri_get(struct mblk__uri *u, const char *key)
{
	for (int i = 0; i < u->nparams; i++)
		if (strcmp(u->params[i].key, key) == 0) {
			u->params[i].used = true;
			return u->params[i].value;
		}
	return NULL;
}

int mblk__uri_get_size(struct mblk__uri *u, const char *key, uint64_t *out)
{
	const char *v = mblk__uri_get(u, key);
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

int mblk__uri_get_uint(struct mblk__uri *u, const char *key, uint64_t *out)
{
	const char *v = mblk__uri_get(u, key);
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

int mblk__uri_get_bool(struct mblk__uri *u, const char *key, bool *out)
{
	const char *v = mblk__uri_get(u, key);
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

int mblk__uri_finish(struct mblk__uri *u, const char *accepted)
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
