/* uri.h - the device URI grammar (docs/uri.md), parsed once for every
 * scheme.
 *
 *   URI    = scheme ":" path [ "?" query ]  |  path-to-a-file
 *   query  = key "=" value *( "&" key "=" value )
 *   value  = percent-encoded text  |  "[" verbatim text "]"
 *
 * path and values are percent-decoded, except a value written in
 * brackets, which is taken verbatim up to its matching bracket (brackets
 * inside balance): that is how a decorator names the URIs of the devices
 * it holds without a second level of escaping,
 *   mirror:?primary=[ram:a?size=1G&sector-size=4096]&secondary=[file:/b]
 * A string that does not start with a known scheme followed by ':' is a
 * file path; one that starts with an unknown scheme-like word is refused,
 * so that a typo ("rma:x") does not turn into "no such file". Openers read
 * the keys they know with the mblk_uri_get* getters of <mblk/backend.h>,
 * which mark them used; mblk_uri_finish then refuses any key nobody read,
 * naming it and the keys the scheme accepts.
 */
#ifndef MBLK_CORE_URI_H
#define MBLK_CORE_URI_H

#include <stdbool.h>
#include <stdint.h>

#include <mblk/backend.h>

#define MBLK__URI_MAX_PARAMS 32

struct mblk_uri {
	const char *text; /* the whole URI as given, for messages */
	char *scheme;     /* "ram", "file", ... (lower case) */
	char *path;       /* decoded; "" when absent */
	int nparams;
	struct {
		char *key;
		char *value;
		bool used;
	} params[MBLK__URI_MAX_PARAMS];
	/* The scheme's key table, for mblk_uri_finish's sentence; set by
	 * whoever found the scheme (NULL: finish lists nothing). */
	const struct mblk_uri_key *keys;
};

/* Parses text. Returns 0 or -EINVAL with mblk_last_error set. known is a
 * NULL-terminated list of scheme names; a scheme-like prefix that is not
 * in it is refused with a sentence listing them. */
int mblk__uri_parse(const char *text, const char *const *known,
		    struct mblk_uri *u);
void mblk__uri_free(struct mblk_uri *u);

/* Refuses unused keys: -EINVAL "unknown key 'x' in URI ...; the <scheme>
 * device accepts: <accepted>". */
int mblk__uri_finish(struct mblk_uri *u, const char *accepted);

#endif
