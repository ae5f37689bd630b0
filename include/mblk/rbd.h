/* mblk/rbd.h - the Ceph RBD device: what it offers beyond mblk_open.
 *
 * Devices are opened with mblk_open("rbd:POOL/IMAGE[@SNAP]?...");
 * docs/devices/rbd.md describes the device and its keys. This header has
 * what a URI cannot do: make a new image.
 */
#ifndef MBLK_RBD_H
#define MBLK_RBD_H

#include "../mblk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates the RBD image that uri names (rbd:POOL/IMAGE with the keys of
 * an rbd: URI that say how to reach the cluster: conf, id, keyring,
 * mon-host, namespace, timeout), size bytes long, with the cluster's
 * default features (format 2). Refuses an image that exists (-EEXIST):
 * it never replaces one. Blocks while it connects (at most the URI's
 * timeout, 30 s by default) and creates the image; call it outside a
 * loop's callbacks. Returns 0, or -errno with the sentence in
 * mblk_last_error(); -ENOTSUP when this mblk was built without librbd. */
MBLK_API int mblk_rbd_create(const char *uri, uint64_t size);

#ifdef __cplusplus
}
#endif

#endif /* MBLK_RBD_H */
