/* mblk/ram.h - the ram device: sparse, named, in-memory block devices.
 * docs/devices/ram.md.
 *
 * Users of the device by URI need only <mblk.h> (mblk_open); this header
 * has what is particular to it.
 */
#ifndef MBLK_RAM_H
#define MBLK_RAM_H

#include "../mblk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The size a ramdisk gets when mblk_ram_connect meets an unknown name:
 * 32768 sectors of 512 bytes (16 MiB), as upstream. */
#define MBLK_RAM_DEFAULT_SECTORS 32768u
#define MBLK_RAM_DEFAULT_SECTOR_SIZE 512u

/* Creates a ramdisk registered under name (process-wide) with
 * size_sectors sectors of sector_size bytes (a power of two from 512 to
 * 65536; size up to 2^63 bytes) and returns a handle to it. Refuses with
 * -EEXIST when the name is taken: replacing it would silently drop its
 * data (upstream replaced). name NULL or "" creates an anonymous device
 * no other handle can reach. Memory grows with the data written. */
MBLK_API int mblk_ram_create(uv_loop_t *loop, const char *name,
			     uint64_t size_sectors, uint32_t sector_size,
			     mblk_dev **devp);

/* Returns a new handle to the ramdisk registered under name; every handle
 * sees the same data. An unknown name gets a fresh default-size device
 * (MBLK_RAM_DEFAULT_*), registered under that name, as upstream. */
MBLK_API int mblk_ram_connect(uv_loop_t *loop, const char *name,
			      mblk_dev **devp);

/* Unregisters name. Handles already open keep working; the memory is
 * freed when the last one closes. Returns 0, or -ENOENT if unknown. */
MBLK_API int mblk_ram_destroy(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* MBLK_RAM_H */
