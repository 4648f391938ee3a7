/* tpmiot-hub init --dir DIR --hostname H */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tpmiot/tpmiot.h>

#include "hub.h"

static const char usage[] =
    "usage: tpmiot-hub init --dir DIR --hostname H\n"
    "\n"
    "Creates a hub in DIR (mode 0700): the device registry, the shared access\n"
    "policies iothubowner, service, registryRead and registryReadWrite (each with\n"
    "primary and secondary keys), a local CA (DIR/ca.crt, what devices trust) and a\n"
    "server certificate for H, localhost and 127.0.0.1. Prints the iothubowner\n"
    "connection string once. Refuses to touch an existing hub.\n";

int cmd_init(const struct hub_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"hostname", required_argument, NULL, 'H'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const struct {
        const char *name;
        unsigned rights;
    } pols[] = {
        {"iothubowner", REG_RIGHT_REGISTRY_READ | REG_RIGHT_REGISTRY_WRITE |
                            REG_RIGHT_SERVICE_CONNECT | REG_RIGHT_DEVICE_CONNECT},
        {"service", REG_RIGHT_SERVICE_CONNECT},
        {"registryRead", REG_RIGHT_REGISTRY_READ},
        {"registryReadWrite", REG_RIGHT_REGISTRY_READ | REG_RIGHT_REGISTRY_WRITE},
    };
    const char *host = NULL;
    char path[600];
    hub_registry *reg = NULL;
    reg_policy owner = {0};
    struct stat st;
    int c, ret = HUB_FAIL;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c == 'H')
            host = optarg;
        else if (c == 'h') {
            fputs(usage, stdout);
            return HUB_OK;
        } else {
            fprintf(stderr,
                    "tpmiot-hub init: unknown option or missing value: '%s' (see "
                    "--help)\n",
                    argv[optind - 1]);
            return HUB_USAGE;
        }
    }
    if (!o->dir || !host || optind != argc) {
        fprintf(stderr, "tpmiot-hub init: needs --dir DIR and --hostname H (see --help)\n");
        return HUB_USAGE;
    }
    if (tpmiot_hostname_check(host)) {
        fprintf(stderr, "tpmiot-hub init: '%s' is not a valid hostname\n", host);
        return HUB_USAGE;
    }
    snprintf(path, sizeof path, "%s/registry.db", o->dir);
    if (stat(path, &st) == 0) {
        fprintf(stderr, "tpmiot-hub init: %s already holds a hub; refusing to overwrite it\n",
                o->dir);
        return HUB_FAIL;
    }
    if (mkdir(o->dir, 0700) && errno != EEXIST) {
        fprintf(stderr, "tpmiot-hub init: cannot create %s: %s\n", o->dir, strerror(errno));
        return HUB_FAIL;
    }
    if (chmod(o->dir, 0700)) {
        fprintf(stderr, "tpmiot-hub init: cannot chmod %s: %s\n", o->dir, strerror(errno));
        return HUB_FAIL;
    }
    if (hub_make_certs(o->dir, host)) {
        fprintf(stderr, "tpmiot-hub init: cannot create the certificates in %s (is it empty?)\n",
                o->dir);
        return HUB_FAIL;
    }
    if (registry_open(&reg, path, true) || registry_meta_set(reg, "hostname", host)) {
        fprintf(stderr, "tpmiot-hub init: cannot create %s\n", path);
        goto out;
    }
    for (size_t i = 0; i < sizeof pols / sizeof pols[0]; i++) {
        reg_policy p = {0};
        snprintf(p.name, sizeof p.name, "%s", pols[i].name);
        p.rights = pols[i].rights;
        if (registry_new_key(p.primary_key, sizeof p.primary_key) ||
            registry_new_key(p.secondary_key, sizeof p.secondary_key) ||
            registry_policy_put(reg, &p)) {
            fprintf(stderr, "tpmiot-hub init: cannot store the policies\n");
            goto out;
        }
        if (i == 0)
            owner = p;
        tpmiot_wipe(&p, sizeof p);
    }
    fprintf(stderr,
            "tpmiot-hub: hub %s created in %s; devices trust %s/ca.crt\n"
            "tpmiot-hub: the iothubowner connection string follows (shown once; it is "
            "also kept in the registry)\n",
            host, o->dir, o->dir);
    printf("HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s\n", host,
           owner.primary_key);
    ret = HUB_OK;
out:
    tpmiot_wipe(&owner, sizeof owner);
    registry_close(&reg);
    return ret;
}
