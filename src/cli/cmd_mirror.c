/* cmd_mirror.c - `mblk mirror`: a stub until the mirror decorator lands
 * (the mirror work replaces this file). */
#include <stdio.h>

#include "cli.h"

int cmd_mirror(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "mblk mirror: not built yet\n");
	return CLI_FAIL;
}
