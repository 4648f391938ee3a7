/* tpmiot portal [set-password]: the local web page for the TPM slots. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../portal/portal.h"
#include "cli.h"

static const char usage[] =
    "usage: tpmiot portal [--listen ADDR:PORT] [--cert F --key F] [--state DIR]\n"
    "                     [--idle-timeout S]\n"
    "       tpmiot portal set-password [--state DIR]   (reads the password from stdin)\n"
    "\n"
    "Serves the TPM configuration page and its JSON API over HTTPS on ADDR:PORT\n"
    "(default 127.0.0.1:8080) with a self-signed certificate kept in DIR unless one\n"
    "is given (default DIR: $XDG_STATE_HOME/tpmiot/portal). There is no default\n"
    "password: set one first. Sessions end after S seconds idle (default 900).\n";

int cmd_portal(const struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},       {"cert", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},          {"state", required_argument, NULL, 's'},
        {"idle-timeout", required_argument, NULL, 'i'}, {NULL, 0, NULL, 0}};
    struct portal_config pc = {.tcti = c->tcti, .listen = "127.0.0.1:8080"};
    char state[600];
    bool set_pw = false;
    int o, ret = EXIT_USAGE;

    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    optind = 1;
    while ((o = cli_getopt("portal", argc, argv, "-", opts, &ret)) != -1) {
        switch (o) {
        case 1:
            if (strcmp(optarg, "set-password") || set_pw)
                return cli_usage_error("portal", "unexpected argument '%s'", optarg);
            set_pw = true;
            break;
        case 'l': pc.listen = optarg; break;
        case 'c': pc.cert = optarg; break;
        case 'k': pc.key = optarg; break;
        case 's': pc.state_dir = optarg; break;
        case 'i': {
            uint64_t v;
            if (!cli_parse_u64(optarg, &v) || v < 5 || v > 86400)
                return cli_usage_error("portal", "--idle-timeout is 5 to 86400 seconds");
            pc.idle_timeout = (unsigned)v;
            break;
        }
        default: return ret;
        }
    }
    if (!!pc.cert != !!pc.key)
        return cli_usage_error("portal", "--cert and --key go together");
    if (!pc.state_dir) {
        char base[460];
        if (tpmiot_state_dir(base, sizeof base))
            return cli_fail("cannot find the state directory", TPMIOT_E_IO);
        mkdir(base, 0700);
        snprintf(state, sizeof state, "%s/portal", base);
        pc.state_dir = state;
    }
    mkdir(pc.state_dir, 0700);
    return set_pw ? portal_set_password(pc.state_dir) : portal_run(&pc);
}
