/* mblk/safe.h - the safe decorator: checks every request and explains
 * what is wrong. docs/decorators/safe.md.
 *
 * Users of the device by URI need only <mblk.h> (mblk_open); this header
 * has what is particular to it.
 */
#ifndef MBLK_SAFE_H
#define MBLK_SAFE_H

#include "../mblk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Wraps inner in a device that checks every request before inner sees
 * it and explains what is wrong. The new device owns inner: closing it
 * closes inner. */
MBLK_API int mblk_safe_wrap(mblk_dev *inner, mblk_dev **devp);

/* Read and write through a safe device straight to the device it wraps,
 * with no checks (the seed's unsafe_read / unsafe_write). Only for callers
 * that can prove their requests valid. dev must come from mblk_safe_wrap
 * or mblk_open without MBLK_OPEN_NO_SAFE; otherwise -EINVAL. */
MBLK_API int mblk_safe_unsafe_read(mblk_dev *dev, uint64_t sector,
				   const struct iovec *iov, int iovcnt,
				   mblk_cb cb, void *data);
MBLK_API int mblk_safe_unsafe_write(mblk_dev *dev, uint64_t sector,
				    const struct iovec *iov, int iovcnt,
				    unsigned flags, mblk_cb cb, void *data);

#ifdef __cplusplus
}
#endif

#endif /* MBLK_SAFE_H */
