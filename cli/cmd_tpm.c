/* tpmiot tpm info */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] = "usage: tpmiot tpm info [--json]\n"
                            "\n"
                            "Shows the TPM's manufacturer, vendor strings, firmware version,\n"
                            "and whether it is a software TPM.\n";

int cmd_tpm(const struct cli *c, int argc, char **argv)
{
    tpmiot_tpm *t = NULL;
    tpmiot_tpm_info info;
    char fw[48];
    tpmiot_rc rc;
    int ret;

    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (argc != 2 || strcmp(argv[1], "info"))
        return cli_usage_error("tpm", argc < 2 ? "missing subcommand" : "unknown arguments");
    if ((ret = cli_open(c, &t)))
        return ret;
    if ((rc = tpmiot_tpm_info_get(t, &info))) {
        ret = cli_fail_tpm(t, "cannot read TPM properties", rc);
        goto out;
    }
    snprintf(fw, sizeof fw, "%u.%u.%u.%u", info.firmware1 >> 16, info.firmware1 & 0xffff,
             info.firmware2 >> 16, info.firmware2 & 0xffff);
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "manufacturer", info.manufacturer);
        cJSON_AddStringToObject(o, "vendor", info.vendor);
        cJSON_AddStringToObject(o, "firmware", fw);
        cJSON_AddStringToObject(o, "family", info.family);
        cJSON_AddNumberToObject(o, "revision", info.revision / 100.0);
        cJSON_AddBoolToObject(o, "software", info.software);
        cJSON_AddStringToObject(o, "tcti", tpmiot_tpm_tcti(t));
        cli_print_json(o);
    } else {
        printf(
            "manufacturer: %s\nvendor:       %s\nfirmware:     %s\nspec:         %s rev %u.%02u\n"
            "software TPM: %s\ntcti:         %s\n",
            info.manufacturer, info.vendor, fw, info.family, info.revision / 100,
            info.revision % 100, info.software ? "yes" : "no", tpmiot_tpm_tcti(t));
    }
    ret = EXIT_OK;
out:
    tpmiot_tpm_close(&t);
    return ret;
}
