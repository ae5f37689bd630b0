/* mblk/nbd.h - NBD helpers beyond the nbd:// device itself.
 *
 * The NBD client is a device like any other: open it with mblk_open and
 * an nbd://, nbds://, nbd+unix:// or nbds+unix:// URI (docs/devices/
 * nbd.md). This header holds what is not a device: listing a server's
 * exports (this section, from the client) and serving devices over NBD
 * (the server's section).
 */
#ifndef MBLK_NBD_H
#define MBLK_NBD_H

#include "../mblk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* The client: listing exports                                         */

/* One export an NBD server offers, as NBD_OPT_LIST and NBD_OPT_INFO
 * describe it. */
struct mblk_nbd_export {
	char *name;        /* the export name ("" is the default export) */
	char *description; /* "" when the server gave none */
	bool have_info;    /* the fields below are known (NBD_OPT_INFO) */
	uint64_t size;     /* bytes */
	uint16_t flags;    /* NBD transmission flags (NBD_FLAG_*) */
	uint32_t min_block, pref_block, max_payload; /* 0 if not advertised */
};

/* Connects to the server that uri names (an NBD URI: its export name is
 * ignored; its socket, TLS and timeout keys are used), asks for its
 * exports with NBD_OPT_LIST and then for each one's size, flags and
 * block sizes with NBD_OPT_INFO, the way `nbdinfo --list` does. On
 * success returns the number of exports (0 or more) and stores a malloc'd
 * array of them in *exports, to be released with mblk_nbd_list_free.
 * Returns -errno with the sentence in mblk_last_error() otherwise (for
 * example -ENOTSUP when the server does not list exports).
 *
 * Synchronous: it runs a private libuv loop of its own until done,
 * within the URI's timeout (default 60 s). Any thread may call it. */
MBLK_API int mblk_nbd_list(const char *uri, struct mblk_nbd_export **exports);

/* Frees what mblk_nbd_list returned (n exports). NULL is a no-op. */
MBLK_API void mblk_nbd_list_free(struct mblk_nbd_export *exports, int n);

#ifdef __cplusplus
}
#endif

#endif /* MBLK_NBD_H */
