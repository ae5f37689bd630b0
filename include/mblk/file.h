/* mblk/file.h - the file device: a regular file or a block device.
 * docs/devices/file.md.
 *
 * Users of the device by URI need only <mblk.h> (mblk_open); this header
 * has what is particular to it.
 */
#ifndef MBLK_FILE_H
#define MBLK_FILE_H

#include "../mblk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What opening a file device decided on the caller's behalf, one
 * sentence per line: "... is not writable (...): opened read-only",
 * "io_uring is not available (...): using the thread-pool engine". ""
 * when nothing; NULL when dev is not (or does not wrap) a file device.
 * Valid as long as the device. */
MBLK_API const char *mblk_file_notes(mblk_dev *dev);

#ifdef __cplusplus
}
#endif

#endif /* MBLK_FILE_H */
