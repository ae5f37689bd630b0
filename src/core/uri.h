/* uri.h - the device URI grammar (docs/uri.md), parsed once for every
 * scheme.
 *
 *   URI    = scheme ":" path [ "?" query ]  |  path-to-a-file
 *   query  = key "=" value *( "&" key "=" value )
 *
 * path and values are percent-decoded. A string that does not start with
 * a known scheme followed by ':' is a file path; one that starts with an
 * unknown scheme-like word is refused, so that a typo ("rma:x") does not
 * turn into "no such file". Openers read the keys they know with the
 * getters below, which mark them used; mblk__uri_finish then refuses any
 * key nobody read, naming it and the keys the scheme accepts.
 */
#ifndef MBLK_CORE_URI_H
#define MBLK_CORE_URI_H

#include <stdbool.h>
#include <stdint.h>

#define MBLK__URI_MAX_PARAMS 32

struct mblk__uri {
	const char *text; /* the whole URI as given, for messages */
	char *scheme;     /* "ram", "file", ... */
	char *path;       /* decoded; "" when absent */
	int nparams;
	struct {
		char *key;
		char *value;
		bool used;
	} params[MBLK__URI_MAX_PARAMS];
};

/* Parses text. Returns 0 or -EINVAL with mblk_last_error set. known is a
 * NULL-terminated list of scheme names. */
int mblk__uri_parse(const char *text, const char *const *known,
		    struct mblk__uri *u);
void mblk__uri_free(struct mblk__uri *u);

/* The value of key or NULL; marks it used. */
const char *mblk__uri_get(struct mblk__uri *u, const char *key);
/* Typed getters: return 0 (and leave *out alone when the key is absent)
 * or -EINVAL with a sentence naming the URI, the key and the value. */
int mblk__uri_get_size(struct mblk__uri *u, const char *key, uint64_t *out);
int mblk__uri_get_bool(struct mblk__uri *u, const char *key, bool *out);
int mblk__uri_get_uint(struct mblk__uri *u, const char *key, uint64_t *out);
/* Refuses unused keys: -EINVAL "unknown key 'x' in URI ...; the <scheme>
 * device accepts: <accepted>". */
int mblk__uri_finish(struct mblk__uri *u, const char *accepted);

#endif
