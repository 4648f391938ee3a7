/* tpmiot slot list|show|provision|destroy */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: tpmiot slot list\n"
    "       tpmiot slot show N\n"
    "       tpmiot slot provision N --host H [--device-id D] [--module-id M] --key-file F\n"
    "       tpmiot slot provision N --connection-string-file F\n"
    "       tpmiot slot destroy N\n"
    "\n"
    "Slots 0-9 each hold a hub hostname, a device id (optionally a module id) and\n"
    "an HMAC key inside the TPM (Limpet's layout: key 0x81000100+N, URI in NV\n"
    "0x01400100+N). Keys are read from files only (`-` = stdin), never from the\n"
    "command line: the key file holds the base64 key (16-64 bytes decoded), the\n"
    "connection-string file `HostName=..;DeviceId=..;SharedAccessKey=..`.\n"
    "Without --device-id the slot uses a device id derived from the TPM.\n"
    "Provisioning replaces what the slot held, atomically; nothing prints the key.\n";

static cJSON *slot_json(const tpmiot_slot_info *s)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "slot", s->slot);
    cJSON_AddBoolToObject(o, "keyPresent", s->key_present);
    cJSON_AddBoolToObject(o, "uriPresent", s->uri_present);
    cJSON_AddStringToObject(o, "hostname", s->hostname);
    cJSON_AddStringToObject(o, "deviceId", s->device_id);
    cJSON_AddBoolToObject(o, "deviceIdDerived", s->device_id_derived);
    cJSON_AddStringToObject(o, "moduleId", s->module_id);
    return o;
}

static const char *state_word(const tpmiot_slot_info *s)
{
    if (s->key_present && s->uri_present)
        return s->hostname[0] ? "provisioned" : "corrupt";
    if (s->key_present)
        return "key only";
    if (s->uri_present)
        return "uri only";
    return "empty";
}

static int do_list(const struct cli *c, tpmiot_tpm *t)
{
    tpmiot_slot_info s[TPMIOT_SLOT_COUNT];
    tpmiot_rc rc = tpmiot_slot_list(t, s);

    if (rc)
        return cli_fail_tpm(t, "cannot list slots", rc);
    if (c->json) {
        cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "slots");
        for (int i = 0; i < TPMIOT_SLOT_COUNT; i++)
            cJSON_AddItemToArray(a, slot_json(&s[i]));
        cli_print_json(o);
        return EXIT_OK;
    }
    printf("%-4s %-12s %-4s %-32s %s\n", "SLOT", "STATE", "KEY", "HOSTNAME", "DEVICE ID");
    for (int i = 0; i < TPMIOT_SLOT_COUNT; i++) {
        char dev[TPMIOT_ID_MAX * 2 + 16];
        snprintf(dev, sizeof dev, "%s%s%s%s", s[i].device_id, s[i].module_id[0] ? "/" : "",
                 s[i].module_id, s[i].device_id_derived ? " (derived)" : "");
        printf("%-4u %-12s %-4s %-32s %s\n", s[i].slot, state_word(&s[i]),
               s[i].key_present ? "yes" : "no", s[i].hostname[0] ? s[i].hostname : "-",
               dev[0] ? dev : "-");
    }
    return EXIT_OK;
}

static int do_show(const struct cli *c, tpmiot_tpm *t, unsigned slot)
{
    tpmiot_slot_info s;
    char hw[65] = "";
    tpmiot_rc rc = tpmiot_slot_info_get(t, slot, &s);

    if (rc)
        return cli_fail_tpm(t, "cannot read slot", rc);
    /* No SRK yet simply means no derived id yet. */
    if (tpmiot_slot_hw_device_id(t, slot, hw))
        hw[0] = '\0';
    if (c->json) {
        cJSON *o = slot_json(&s);
        cJSON_AddStringToObject(o, "hardwareDeviceId", hw);
        cJSON_AddStringToObject(o, "state", state_word(&s));
        cli_print_json(o);
        return EXIT_OK;
    }
    printf("slot:        %u\nstate:       %s\nkey:         %s\nhostname:    %s\n"
           "device id:   %s%s\nmodule id:   %s\nhardware id: %s\n",
           s.slot, state_word(&s), s.key_present ? "present (in the TPM)" : "absent",
           s.hostname[0] ? s.hostname : "-", s.device_id[0] ? s.device_id : "-",
           s.device_id_derived ? " (derived from the TPM)" : "", s.module_id[0] ? s.module_id : "-",
           hw[0] ? hw : "-");
    return EXIT_OK;
}

struct slot_opts {
    const char *host, *dev, *mod, *key_file, *cs_file;
};

static int do_provision(const struct cli *c, tpmiot_tpm *t, unsigned slot,
                        const struct slot_opts *p)
{
    uint8_t key[TPMIOT_KEY_MAX + 3];
    size_t key_len = sizeof key, len = 0;
    char *buf;
    tpmiot_rc rc;

    buf = cli_read_file(p->key_file ? p->key_file : p->cs_file, 4096, &len);
    if (!buf)
        return EXIT_FAIL;
    if (p->cs_file) {
        rc = tpmiot_slot_provision_connstr(t, slot, buf);
    } else {
        /* Tolerate the trailing newline of `echo KEY > file`. */
        size_t n = len;
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
            n--;
        rc = tpmiot_base64_decode(buf, n, key, &key_len);
        if (rc == TPMIOT_E_BUFFER_SMALL)
            rc = TPMIOT_E_BAD_KEY;
        if (!rc) {
            tpmiot_identity id = {p->host, p->dev, p->mod};
            rc = tpmiot_slot_provision(t, slot, &id, key, key_len);
        }
        tpmiot_wipe(key, sizeof key);
    }
    cli_free_secret(buf, len);
    if (rc)
        return cli_fail_tpm(t, "cannot provision slot", rc);
    if (c->json) {
        tpmiot_slot_info s;
        if ((rc = tpmiot_slot_info_get(t, slot, &s)))
            return cli_fail_tpm(t, "provisioned, but cannot read the slot back", rc);
        cli_print_json(slot_json(&s));
    } else {
        fprintf(stderr, "tpmiot: slot %u provisioned\n", slot);
    }
    return EXIT_OK;
}

/* Options may stand before or after the slot number: parse until a non-option. */
static int parse_opts(int argc, char **argv, struct slot_opts *p)
{
    static const struct option opts[] = {{"host", required_argument, NULL, 'H'},
                                         {"device-id", required_argument, NULL, 'd'},
                                         {"module-id", required_argument, NULL, 'm'},
                                         {"key-file", required_argument, NULL, 'k'},
                                         {"connection-string-file", required_argument, NULL, 'c'},
                                         {NULL, 0, NULL, 0}};
    int o, ret = EXIT_USAGE;

    while ((o = cli_getopt("slot", argc, argv, "+", opts, &ret)) != -1) {
        switch (o) {
        case 'H': p->host = optarg; break;
        case 'd': p->dev = optarg; break;
        case 'm': p->mod = optarg; break;
        case 'k': p->key_file = optarg; break;
        case 'c': p->cs_file = optarg; break;
        default: return ret;
        }
    }
    return EXIT_OK;
}

int cmd_slot(const struct cli *c, int argc, char **argv)
{
    struct slot_opts p = {0};
    tpmiot_tpm *t = NULL;
    unsigned slot = 0;
    const char *sub;
    int ret;

    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (argc < 2)
        return cli_usage_error("slot", "missing subcommand (list, show, provision or destroy)");
    sub = argv[1];
    if (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "provision") &&
        strcmp(sub, "destroy"))
        return cli_usage_error("slot", "unknown subcommand '%s'", sub);
    optind = 2;
    if ((ret = parse_opts(argc, argv, &p)))
        return ret;
    if (strcmp(sub, "list")) {
        if ((ret = cli_slot_arg("slot", optind < argc ? argv[optind] : NULL, &slot)))
            return ret;
        optind++;
        if ((ret = parse_opts(argc, argv, &p)))
            return ret;
    }
    if (optind != argc)
        return cli_usage_error("slot", "unexpected argument '%s'", argv[optind]);
    if (strcmp(sub, "provision") && (p.host || p.dev || p.mod || p.key_file || p.cs_file))
        return cli_usage_error("slot", "options given that only `provision` takes");
    if (!strcmp(sub, "provision")) {
        if (p.cs_file && (p.host || p.dev || p.mod || p.key_file))
            return cli_usage_error("slot", "--connection-string-file excludes --host, --device-id, "
                                           "--module-id and --key-file");
        if (!p.cs_file && (!p.host || !p.key_file))
            return cli_usage_error("slot", "provision needs --host and --key-file, or "
                                           "--connection-string-file");
        if (p.mod && !p.dev)
            return cli_usage_error("slot", "--module-id needs --device-id");
    }
    if ((ret = cli_open(c, &t)))
        return ret;
    if (!strcmp(sub, "list")) {
        ret = do_list(c, t);
    } else if (!strcmp(sub, "show")) {
        ret = do_show(c, t, slot);
    } else if (!strcmp(sub, "provision")) {
        ret = do_provision(c, t, slot, &p);
    } else {
        tpmiot_rc rc = tpmiot_slot_destroy(t, slot);
        ret = rc ? cli_fail_tpm(t, "cannot destroy slot", rc) : EXIT_OK;
        if (!rc && c->json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "slot", slot);
            cJSON_AddBoolToObject(j, "destroyed", true);
            cli_print_json(j);
        }
    }
    tpmiot_tpm_close(&t);
    return ret;
}
