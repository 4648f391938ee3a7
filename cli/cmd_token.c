/* tpmiot token N, tpmiot hmac N, tpmiot verify */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char token_usage[] =
    "usage: tpmiot token N [--ttl SECONDS | --expiry UNIXTIME] [--encoded-resource]\n"
    "                      [--policy NAME] [--connection-string]\n"
    "\n"
    "Prints a SAS token for slot N, signed by the TPM (one TPM2_HMAC), alone on\n"
    "stdout. Default lifetime 3600 s. --encoded-resource writes sr URL-encoded\n"
    "(host%2Fdevices%2Fid) as the Node and embedded C SDKs do; the default is raw\n"
    "as Limpet and azure-iot-sdk-c do. --connection-string prints\n"
    "HostName=..;DeviceId=..;SharedAccessSignature=.. instead.\n";

static const char hmac_usage[] = "usage: tpmiot hmac N [--file F]\n"
                                 "\n"
                                 "Prints the base64 HMAC-SHA256 of the file (default: stdin,\n"
                                 "any length) computed by the TPM with slot N's key.\n";

static const char verify_usage[] =
    "usage: tpmiot verify --key-file F [--token-file F]\n"
    "\n"
    "Checks a SAS token (default: read from stdin) against the base64 key in F,\n"
    "in memory: signature over exactly the sr it carries, and expiry. Prints the\n"
    "token's resource and expiry; exit status 0 only when it verifies.\n";

int cmd_token(const struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"ttl", required_argument, NULL, 't'},         {"expiry", required_argument, NULL, 'e'},
        {"encoded-resource", no_argument, NULL, 'r'},  {"policy", required_argument, NULL, 'p'},
        {"connection-string", no_argument, NULL, 'c'}, {NULL, 0, NULL, 0}};
    tpmiot_sas_options so = {0};
    tpmiot_signer *s = NULL;
    tpmiot_tpm *t = NULL;
    bool cs = false, have_ttl = false;
    const char *slot_arg = NULL;
    char *out = NULL;
    unsigned slot;
    tpmiot_rc rc;
    int o, ret = EXIT_USAGE;

    if (cli_wants_help(argc, argv)) {
        fputs(token_usage, stdout);
        return EXIT_OK;
    }
    optind = 1;
    /* In order, with non-options handed back, so the slot may stand anywhere. */
    while ((o = cli_getopt("token", argc, argv, "-", opts, &ret)) != -1) {
        switch (o) {
        case 1:
            if (slot_arg)
                return cli_usage_error("token", "unexpected argument '%s'", optarg);
            slot_arg = optarg;
            break;
        case 't':
            if (!cli_parse_u64(optarg, &so.ttl) || so.ttl == 0)
                return cli_usage_error("token", "--ttl needs a positive number of seconds");
            have_ttl = true;
            break;
        case 'e':
            if (!cli_parse_u64(optarg, &so.expiry) || so.expiry == 0)
                return cli_usage_error("token", "--expiry needs a Unix time in seconds");
            break;
        case 'r': so.encoded_resource = true; break;
        case 'p': so.policy = optarg; break;
        case 'c': cs = true; break;
        default: return ret;
        }
    }
    if (have_ttl && so.expiry)
        return cli_usage_error("token", "--ttl and --expiry exclude each other");
    if (so.expiry && so.expiry <= (uint64_t)time(NULL))
        return cli_usage_error("token", "--expiry %llu is in the past",
                               (unsigned long long)so.expiry);
    if (cs && so.policy)
        return cli_usage_error("token", "--policy makes a hub-level token; it has no device "
                                        "connection string");
    if ((ret = cli_slot_arg("token", slot_arg, &slot)))
        return ret;
    if ((ret = cli_open(c, &t)))
        return ret;
    if ((rc = tpmiot_signer_from_slot(&s, t, slot))) {
        ret = cli_fail_tpm(t, "cannot use slot", rc);
        goto out;
    }
    rc = cs ? tpmiot_sas_connection_string(s, &so, &out) : tpmiot_sas_build(s, &so, &out);
    if (rc) {
        ret = cli_fail_tpm(t, "cannot make a token", rc);
        goto out;
    }
    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, cs ? "connectionString" : "token", out);
        cJSON_AddStringToObject(j, "hostname", tpmiot_signer_hostname(s));
        cJSON_AddStringToObject(j, "deviceId", tpmiot_signer_device_id(s));
        cli_print_json(j);
    } else {
        puts(out);
    }
    ret = EXIT_OK;
out:
    tpmiot_free(out);
    tpmiot_signer_free(&s);
    tpmiot_tpm_close(&t);
    return ret;
}

int cmd_hmac(const struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"file", required_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};
    const char *file = "-", *slot_arg = NULL;
    tpmiot_tpm *t = NULL;
    uint8_t mac[32];
    char b64[48], *data;
    size_t len = 0, n = sizeof b64;
    unsigned slot;
    tpmiot_rc rc;
    int o, ret = EXIT_USAGE;

    if (cli_wants_help(argc, argv)) {
        fputs(hmac_usage, stdout);
        return EXIT_OK;
    }
    optind = 1;
    while ((o = cli_getopt("hmac", argc, argv, "-", opts, &ret)) != -1) {
        if (o == 1 && !slot_arg)
            slot_arg = optarg;
        else if (o == 1)
            return cli_usage_error("hmac", "unexpected argument '%s'", optarg);
        else if (o == 'f')
            file = optarg;
        else
            return ret;
    }
    if ((ret = cli_slot_arg("hmac", slot_arg, &slot)))
        return ret;
    /* 64 MiB is far above any use (tokens are < 1 KiB) and bounds memory. */
    if (!(data = cli_read_file(file, 64u << 20, &len)))
        return EXIT_FAIL;
    if ((ret = cli_open(c, &t)))
        goto out;
    if ((rc = tpmiot_slot_hmac(t, slot, data, len, mac))) {
        ret = cli_fail_tpm(t, "cannot compute the HMAC", rc);
        goto out;
    }
    tpmiot_base64_encode(mac, sizeof mac, b64, &n);
    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "hmac", b64);
        cJSON_AddNumberToObject(j, "bytes", (double)len);
        cli_print_json(j);
    } else {
        puts(b64);
    }
    ret = EXIT_OK;
out:
    free(data);
    tpmiot_tpm_close(&t);
    return ret;
}

/* The hostname part of a token's sr, decoded: what a verifier needs to build its signer. */
static bool sr_host(const char *sr, char *host, size_t len)
{
    char dec[1024];
    size_t n = sizeof dec;
    char *slash;

    if (tpmiot_url_decode(sr, strlen(sr), dec, &n))
        return false;
    if ((slash = strchr(dec, '/')))
        *slash = '\0';
    if (strlen(dec) >= len || tpmiot_hostname_check(dec))
        return false;
    strcpy(host, dec);
    return true;
}

int cmd_verify(const struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"key-file", required_argument, NULL, 'k'},
                                         {"token-file", required_argument, NULL, 't'},
                                         {NULL, 0, NULL, 0}};
    const char *key_file = NULL, *token_file = "-";
    char *kbuf = NULL, *tok = NULL, host[TPMIOT_HOSTNAME_MAX + 1];
    uint8_t key[TPMIOT_KEY_MAX + 3];
    size_t klen = 0, tlen = 0, key_len = sizeof key;
    tpmiot_signer *s = NULL;
    tpmiot_sas_parts parts;
    tpmiot_rc rc;
    int o, ret = EXIT_USAGE;

    if (cli_wants_help(argc, argv)) {
        fputs(verify_usage, stdout);
        return EXIT_OK;
    }
    optind = 1;
    while ((o = cli_getopt("verify", argc, argv, "+", opts, &ret)) != -1) {
        if (o == 'k')
            key_file = optarg;
        else if (o == 't')
            token_file = optarg;
        else
            return ret;
    }
    ret = EXIT_FAIL;
    if (optind != argc)
        return cli_usage_error("verify",
                               "unexpected argument '%s' (the token is read from "
                               "stdin or --token-file)",
                               argv[optind]);
    if (!key_file)
        return cli_usage_error("verify", "missing --key-file");
    if (!(kbuf = cli_read_file(key_file, 4096, &klen)) ||
        !(tok = cli_read_file(token_file, 8192, &tlen)))
        goto out;
    while (klen && strchr("\r\n ", kbuf[klen - 1]))
        kbuf[--klen] = '\0';
    while (tlen && strchr("\r\n", tok[tlen - 1]))
        tok[--tlen] = '\0';
    if ((rc = tpmiot_base64_decode(kbuf, klen, key, &key_len))) {
        ret = cli_fail("bad key file", TPMIOT_E_BAD_KEY);
        goto out;
    }
    if ((rc = tpmiot_sas_parse(tok, &parts)) ||
        (!sr_host(parts.sr, host, sizeof host) && (rc = TPMIOT_E_BAD_TOKEN))) {
        ret = cli_fail("cannot read the token", rc);
        goto out;
    }
    tpmiot_identity id = {host, NULL, NULL};
    if ((rc = tpmiot_signer_from_key(&s, &id, key, key_len))) {
        ret = cli_fail("bad key", rc);
        goto out;
    }
    rc = tpmiot_sas_verify(s, tok, (uint64_t)time(NULL));
    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "valid", rc == TPMIOT_OK);
        cJSON_AddStringToObject(j, "resource", parts.sr);
        cJSON_AddNumberToObject(j, "expiry", (double)parts.se);
        if (rc)
            cJSON_AddStringToObject(j, "error", tpmiot_strerror(rc));
        cli_print_json(j);
    } else if (!rc) {
        printf("valid: sr=%s, expires %llu (in %lld s)\n", parts.sr, (unsigned long long)parts.se,
               (long long)parts.se - (long long)time(NULL));
    }
    if (rc) {
        ret = cli_fail("token does not verify", rc);
        goto out;
    }
    ret = EXIT_OK;
out:
    tpmiot_wipe(key, sizeof key);
    cli_free_secret(kbuf, klen);
    cli_free_secret(tok, tlen);
    tpmiot_signer_free(&s);
    return ret;
}
