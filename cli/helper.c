/* tpmiot-provision and tpmiot-portal: the commands that need libcurl or
 * libmicrohttpd, run by `tpmiot provision|portal` (see main.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int main(int argc, char **argv)
{
    struct cli c = {0};
    char *rest[256];
    int n = 0, ret;

    setenv("TSS2_LOG", "all+none", 0);
    if ((ret = cli_globals(argc, argv, &c, rest, &n)))
        return ret;
    if (n == 0 || strcmp(rest[0], TPMIOT_HELPER_NAME)) {
        fprintf(stderr, "tpmiot-%s: run it as `tpmiot %s`\n", TPMIOT_HELPER_NAME,
                TPMIOT_HELPER_NAME);
        return EXIT_USAGE;
    }
    return TPMIOT_HELPER_FN(&c, n, rest);
}
