/* fuzz-nbd.h - what the NBD server's libFuzzer targets share: one loop
 * and one ramdisk for the process, and a function that serves one input
 * as the bytes a client sends on a fresh connection.
 *
 * Design notes
 * - The input goes into one end of a socketpair, whose other end the
 *   server serves (mblk_nbd_server_serve_fd), and the write side is shut
 *   so the server sees EOF after it. Everything the server sends back is
 *   read and thrown away by a uv_poll on the client end, so a reply the
 *   fuzzer never reads cannot stall the server. The loop runs until the
 *   connection is gone; a bound on iterations turns a hang into a crash
 *   the fuzzer reports.
 * - The prefix (for the transmission target) is a valid handshake, so
 *   the fuzzer's bytes start in transmission.
 */
#ifndef MBLK_FUZZ_NBD_H
#define MBLK_FUZZ_NBD_H

#include <stddef.h>
#include <stdint.h>

/* Serves prefix then data (either may be empty) to one connection and
 * runs the loop until it is closed. Aborts if it never is. */
void fuzz_nbd_serve(const uint8_t *prefix, size_t plen, const uint8_t *data,
		    size_t len);

#endif
