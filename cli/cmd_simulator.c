/* tpmiot simulator start|stop|status */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: tpmiot simulator start [--state DIR]\n"
    "       tpmiot simulator stop [--state DIR]\n"
    "       tpmiot simulator status [--state DIR]\n"
    "\n"
    "Runs Debian's swtpm as this user's software TPM on a unix socket (mode 0600)\n"
    "in DIR (default: $XDG_STATE_HOME/tpmiot/swtpm, /var/lib/tpmiot/swtpm for\n"
    "root, else ~/.local/state/tpmiot/swtpm). State is kept across restarts.\n"
    "`start` prints the TCTI string and does nothing if one already runs there.\n";

int cmd_simulator(const struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"state", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *state = NULL, *sub;
    char tcti[600], why[512] = "", dir[480];
    tpmiot_rc rc;
    int o, ret = EXIT_USAGE;

    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (argc < 2)
        return cli_usage_error("simulator", "missing subcommand (start, stop or status)");
    sub = argv[1];
    optind = 2;
    while ((o = cli_getopt("simulator", argc, argv, "+", opts, &ret)) != -1) {
        if (o != 's')
            return ret;
        state = optarg;
    }
    if (optind != argc)
        return cli_usage_error("simulator", "unexpected argument '%s'", argv[optind]);
    if (state)
        snprintf(dir, sizeof dir, "%s", state);
    else if ((rc = tpmiot_sim_default_dir(dir, sizeof dir)))
        return cli_fail("cannot find the state directory", rc);

    if (!strcmp(sub, "start")) {
        rc = tpmiot_sim_start(dir, tcti, sizeof tcti, why, sizeof why);
        if (rc) {
            fprintf(stderr, "tpmiot: simulator: %s\n", why[0] ? why : tpmiot_strerror(rc));
            return EXIT_FAIL;
        }
        if (c->json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "tcti", tcti);
            cJSON_AddStringToObject(j, "state", dir);
            cli_print_json(j);
        } else {
            puts(tcti);
        }
        return EXIT_OK;
    }
    if (!strcmp(sub, "stop")) {
        if ((rc = tpmiot_sim_stop(dir)))
            return cli_fail("simulator stop", rc);
        return EXIT_OK;
    }
    if (!strcmp(sub, "status")) {
        bool running;
        long pid;
        if ((rc = tpmiot_sim_status(dir, &running, &pid)))
            return cli_fail("simulator status", rc);
        if (c->json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddBoolToObject(j, "running", running);
            cJSON_AddStringToObject(j, "state", dir);
            if (running) {
                cJSON_AddNumberToObject(j, "pid", (double)pid);
                snprintf(tcti, sizeof tcti, "swtpm:path=%s/sock", dir);
                cJSON_AddStringToObject(j, "tcti", tcti);
            }
            cli_print_json(j);
        } else if (running) {
            printf("running (pid %ld), tcti swtpm:path=%s/sock\n", pid, dir);
        } else {
            printf("not running (state %s)\n", dir);
        }
        /* Like systemctl status: non-zero when not running, for scripts. */
        return running ? EXIT_OK : 3;
    }
    return cli_usage_error("simulator", "unknown subcommand '%s'", sub);
}
