/* tpmiot-hub: a self-hosted IoT hub speaking Azure IoT Hub's device protocol. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <tpmiot/tpmiot.h>

#include "hub.h"

static const char usage[] =
    "usage: tpmiot-hub [--dir DIR] [--json] COMMAND [ARGS]\n"
    "\n"
    "A self-hosted IoT hub: Mosquitto with the tpmiot plugin (SAS authentication,\n"
    "per-device topics), a SQLite registry and an HTTPS REST API shaped like Azure\n"
    "IoT Hub's, so devices written for Azure IoT Hub connect unchanged.\n"
    "\n"
    "Commands:\n"
    "  init --hostname H        create a hub in DIR\n"
    "  run [--mqtt-port P] [--rest-port P] [--plain-mqtt-port P] [--bind A]\n"
    "  device create|show|list|delete|disable|enable|rotate-key|connection-string\n"
    "  token [--policy NAME] [--ttl S]   a hub-level SAS token\n"
    "  c2d send ID [--prop k=v]... MESSAGE\n"
    "  monitor [--device ID]    print device-to-cloud messages as they arrive\n"
    "\n"
    "Admin commands use --connection-string-file F, else $TPMIOT_HUB_CONNECTION_STRING,\n"
    "else the owner policy of the hub in --dir. See tpmiot-hub(1) and docs/hub.md.\n";

int main(int argc, char **argv)
{
    struct hub_opts o = {0};
    char *rest[256];
    int n = 0, ret;

    if (argc > 250) {
        fprintf(stderr, "tpmiot-hub: too many arguments\n");
        return HUB_USAGE;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir")) {
            if (++i == argc) {
                fprintf(stderr, "tpmiot-hub: --dir needs a value\n");
                return HUB_USAGE;
            }
            o.dir = argv[i];
        } else if (!strncmp(argv[i], "--dir=", 6)) {
            o.dir = argv[i] + 6;
        } else if (!strcmp(argv[i], "--json")) {
            o.json = true;
        } else {
            rest[n++] = argv[i];
        }
    }
    rest[n] = NULL;
    if (n == 0) {
        fprintf(stderr, "tpmiot-hub: missing command (see `tpmiot-hub --help`)\n");
        return HUB_USAGE;
    }
    if (!strcmp(rest[0], "--help") || !strcmp(rest[0], "-h") || !strcmp(rest[0], "help")) {
        fputs(usage, stdout);
        return HUB_OK;
    }
    if (!strcmp(rest[0], "--version")) {
        printf("tpmiot-hub %s\n", TPMIOT_VERSION);
        return HUB_OK;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!strcmp(rest[0], "init"))
        ret = cmd_init(&o, n, rest);
    else if (!strcmp(rest[0], "run"))
        ret = cmd_run(&o, n, rest);
    else if (!strcmp(rest[0], "device") || !strcmp(rest[0], "token") || !strcmp(rest[0], "c2d") ||
             !strcmp(rest[0], "monitor"))
        ret = cmd_admin(&o, n, rest);
    else {
        fprintf(stderr, "tpmiot-hub: unknown command '%s' (see `tpmiot-hub --help`)\n", rest[0]);
        ret = HUB_USAGE;
    }
    curl_global_cleanup();
    return ret;
}
