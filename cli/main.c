/* tpmiot: the device command line. Global options, then one subcommand. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "usage: tpmiot [--tcti CONF] [--json] COMMAND [ARGS]\n"
    "\n"
    "Device identities in a TPM 2.0: ten slots, each a hub hostname, a device id\n"
    "and an HMAC key that never leaves the TPM; SAS tokens signed by the TPM.\n"
    "\n"
    "Commands:\n"
    "  tpm info                  show which TPM this is\n"
    "  simulator start|stop|status  run the software TPM (swtpm) for this user\n"
    "  slot list|show|provision|destroy  manage identity slots 0-9\n"
    "  provision N               register a device in a hub and put its key into slot N\n"
    "  portal                    the local HTTPS page for the TPM slots\n"
    "  token N                   print a SAS token signed by slot N\n"
    "  hmac N                    HMAC-SHA256 of stdin (or --file) with slot N's key\n"
    "  verify --key-file F       check a SAS token from stdin against a key\n"
    "  send N MESSAGE            send device-to-cloud messages through the hub\n"
    "  listen N                  print cloud-to-device messages as they arrive\n"
    "\n"
    "Global options (anywhere on the line):\n"
    "  --tcti CONF   tss2 TCTI to use (default: $TPMIOT_TCTI, /dev/tpmrm0, the\n"
    "                software TPM of `tpmiot simulator start`)\n"
    "  --json        machine-readable output: one JSON object\n"
    "  --help        help for tpmiot or for a command\n"
    "  --version     print the version\n"
    "\n"
    "See tpmiot(1).\n";

struct command {
    const char *name;
    int (*run)(const struct cli *c, int argc, char **argv);
};

static const struct command commands[] = {
    {"tpm", cmd_tpm},   {"simulator", cmd_simulator}, {"slot", cmd_slot}, {"token", cmd_token},
    {"hmac", cmd_hmac}, {"verify", cmd_verify},       {"send", cmd_send}, {"listen", cmd_listen},
};

/* Commands with heavy libraries (libcurl, libmicrohttpd and GnuTLS) live in
 * helper programs next to this one, as git's do, so that `tpmiot token` does
 * not pay for loading them: 43 shared libraries took 5.7 ms per process. */
static int run_helper(const char *name, char **argv)
{
    char exe[PATH_MAX], path[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(path, sizeof path, "%s/tpmiot-%s", exe, name);
            argv[0] = path;
            execv(path, argv);
        }
    }
    snprintf(path, sizeof path, "tpmiot-%s", name);
    argv[0] = path;
    execvp(path, argv);
    fprintf(stderr, "tpmiot: cannot run %s: %s (it is installed next to tpmiot)\n", path,
            strerror(errno));
    return EXIT_FAIL;
}

int main(int argc, char **argv)
{
    struct cli c = {0};
    char *rest[256];
    int n = 0, ret;

    /* The TSS logs its own view of every failure to stderr; we report each
     * failure in one line with the TSS code decoded. TSS2_LOG=all+error
     * from the user still wins, for debugging. */
    setenv("TSS2_LOG", "all+none", 0);
    if ((ret = cli_globals(argc, argv, &c, rest, &n)))
        return ret;
    if (n == 0) {
        fprintf(stderr, "tpmiot: missing command (see `tpmiot --help`)\n");
        return EXIT_USAGE;
    }
    if (!strcmp(rest[0], "--help") || !strcmp(rest[0], "-h") || !strcmp(rest[0], "help")) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (!strcmp(rest[0], "--version")) {
        printf("tpmiot %s\n", TPMIOT_VERSION);
        return EXIT_OK;
    }
    if (!strcmp(rest[0], "provision") || !strcmp(rest[0], "portal"))
        return run_helper(rest[0], argv);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(rest[0], commands[i].name))
            return commands[i].run(&c, n, rest);
    fprintf(stderr, "tpmiot: unknown command '%s' (see `tpmiot --help`)\n", rest[0]);
    return EXIT_USAGE;
}
