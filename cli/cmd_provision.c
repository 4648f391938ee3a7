/*
 * tpmiot provision: register a device in a hub (ours or Azure's, over the
 * REST API) and put its key straight into a TPM slot, then prove it by
 * connecting once. The key is in this process only between the HTTPS
 * response and TPM2_Create, and is wiped from every buffer it touched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "cli.h"

static const char usage[] =
    "usage: tpmiot provision N --hub-connection-string-file F --device-id D [--create]\n"
    "       tpmiot provision N --connection-string-file F\n"
    "options: [--force] [--no-verify] [--ca-file F] [--gateway-host H] [--rest-port P]\n"
    "         [--mqtt-port P]\n"
    "\n"
    "With a hub's service connection string (HostName=..;SharedAccessKeyName=..;\n"
    "SharedAccessKey=.., ours or Azure's): fetches device D (with --create: creates\n"
    "it, keys made here), puts its primary key into slot N, wipes every copy, and\n"
    "checks the result by connecting to the hub once (--no-verify skips that).\n"
    "With a device connection string: puts that device into slot N and verifies.\n"
    "Refuses to replace a provisioned slot without --force. --gateway-host, --rest-port\n"
    "and --mqtt-port reach a hub at another address than its hostname (which stays in\n"
    "tokens and TLS name checks unless the gateway is given). One line per step on\n"
    "stderr; with --json a result object on stdout.\n";

struct buf {
    char *p;
    size_t n;
};

static size_t on_body(char *d, size_t s, size_t n, void *arg)
{
    struct buf *b = arg;
    size_t len = s * n;
    char *np;

    if (b->n + len > (1u << 20) || !(np = realloc(b->p, b->n + len + 1)))
        return 0;
    b->p = np;
    memcpy(b->p + b->n, d, len);
    b->n += len;
    b->p[b->n] = '\0';
    return len;
}

static void free_secret_buf(struct buf *b)
{
    if (b->p) {
        tpmiot_wipe(b->p, b->n);
        free(b->p);
    }
    b->p = NULL;
    b->n = 0;
}

struct hub {
    tpmiot_connstr cs;
    char base[400];
    const char *ca_file;
};

/* One REST call with a fresh policy token; prints a step-worthy error. */
static int rest(struct hub *h, const char *method, const char *path, const char *body, long *status,
                struct buf *resp)
{
    uint8_t key[80];
    size_t kn = sizeof key;
    tpmiot_signer *s = NULL;
    tpmiot_identity id = {h->cs.host_name, NULL, NULL};
    tpmiot_sas_options o = {.ttl = 300, .policy = h->cs.shared_access_key_name};
    char *tok = NULL, url[1200], auth[1400];
    struct curl_slist *hd = NULL;
    CURL *c;
    CURLcode rc;

    if (tpmiot_base64_decode(h->cs.shared_access_key, strlen(h->cs.shared_access_key), key, &kn) ||
        tpmiot_signer_from_key(&s, &id, key, kn) || tpmiot_sas_build(s, &o, &tok)) {
        tpmiot_wipe(key, sizeof key);
        tpmiot_signer_free(&s);
        fprintf(stderr, "tpmiot: the hub connection string's key is not valid base64\n");
        return EXIT_FAIL;
    }
    tpmiot_wipe(key, sizeof key);
    tpmiot_signer_free(&s);
    snprintf(url, sizeof url, "%s%s?api-version=2021-04-12", h->base, path);
    snprintf(auth, sizeof auth, "Authorization: %s", tok);
    tpmiot_free(tok);
    hd = curl_slist_append(hd, auth);
    tpmiot_wipe(auth, sizeof auth);
    hd = curl_slist_append(hd, "Content-Type: application/json; charset=utf-8");
    c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    if (h->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    for (struct curl_slist *p = hd; p; p = p->next)
        tpmiot_wipe(p->data, strlen(p->data));
    curl_slist_free_all(hd);
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE) {
        fprintf(stderr,
                "tpmiot: the hub's certificate is not trusted (%s); pass the hub's CA "
                "with --ca-file\n",
                curl_easy_strerror(rc));
        return EXIT_FAIL;
    }
    if (rc) {
        fprintf(stderr,
                "tpmiot: cannot reach the hub at %s: %s (check the address, "
                "--gateway-host and --rest-port)\n",
                h->base, curl_easy_strerror(rc));
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static int http_fail(long status, const char *what)
{
    const char *hint = status == 401   ? "the hub refused the credentials (wrong or expired key?)"
                       : status == 403 ? "the policy lacks the permission (reading needs "
                                         "registryRead, --create registryReadWrite)"
                       : status == 404 ? "no such device (add --create to create it)"
                       : status == 409 ? "the device exists already (drop --create to use it)"
                                       : "unexpected answer";
    fprintf(stderr, "tpmiot: %s: HTTP %ld: %s\n", what, status, hint);
    return EXIT_FAIL;
}

/* The primary key of a device JSON, copied into out; wipes the JSON's copy. */
static bool take_key(cJSON *d, char *out, size_t len)
{
    cJSON *k = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(d, "authentication"), "symmetricKey"),
        "primaryKey");
    bool ok = cJSON_IsString(k) && strlen(k->valuestring) < len;

    if (ok)
        strcpy(out, k->valuestring);
    if (cJSON_IsString(k))
        tpmiot_wipe(k->valuestring, strlen(k->valuestring));
    return ok;
}

static bool verified_ok;
static volatile int verify_state; /* 0 waiting, 1 connected, 2 refused */

static void on_status(tpmiot_status s, const char *why, unsigned retry_ms, void *arg)
{
    (void)why;
    (void)retry_ms;
    (void)arg;
    if (s == TPMIOT_STATUS_CONNECTED)
        verify_state = 1;
    else if (s == TPMIOT_STATUS_BAD_CREDENTIALS)
        verify_state = 2;
}

static int verify(tpmiot_tpm *t, unsigned slot, const tpmiot_client_options *o)
{
    tpmiot_client *c = NULL;
    tpmiot_rc rc = tpmiot_client_from_slot(&c, t, slot, o);

    if (rc)
        return cli_fail("cannot verify", rc);
    verify_state = 0;
    tpmiot_client_on_status(c, on_status, NULL);
    tpmiot_client_start(c);
    for (int i = 0; i < 400 && !verify_state; i++)
        usleep(50000);
    tpmiot_client_destroy(&c);
    if (verify_state == 1) {
        verified_ok = true;
        return EXIT_OK;
    }
    fprintf(stderr, "tpmiot: verify: %s\n",
            verify_state == 2 ? "the hub refused the slot's token: the key in the hub differs, or "
                                "the device is disabled"
                              : "no connection to the hub within 20 s (check --mqtt-port, "
                                "--gateway-host, --ca-file)");
    return EXIT_FAIL;
}

int cmd_provision(const struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"hub-connection-string-file", required_argument, NULL, 'H'},
        {"connection-string-file", required_argument, NULL, 'C'},
        {"device-id", required_argument, NULL, 'd'},
        {"create", no_argument, NULL, 'c'},
        {"force", no_argument, NULL, 'f'},
        {"no-verify", no_argument, NULL, 'n'},
        {"ca-file", required_argument, NULL, 'a'},
        {"gateway-host", required_argument, NULL, 'g'},
        {"rest-port", required_argument, NULL, 'r'},
        {"mqtt-port", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0}};
    const char *hub_file = NULL, *dev_file = NULL, *dev = NULL, *slot_arg = NULL, *gateway = NULL;
    bool create = false, force = false, no_verify = false, created = false;
    long rest_port = 443, mqtt_port = 8883;
    struct hub h = {0};
    char keyb64[128] = "", *text = NULL, path[300];
    size_t tlen = 0;
    tpmiot_tpm *t = NULL;
    tpmiot_slot_info info;
    tpmiot_rc rc;
    unsigned slot;
    int o, ret = EXIT_USAGE;

    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    optind = 1;
    while ((o = cli_getopt("provision", argc, argv, "-", opts, &ret)) != -1) {
        char *end;
        switch (o) {
        case 1:
            if (slot_arg)
                return cli_usage_error("provision", "unexpected argument '%s'", optarg);
            slot_arg = optarg;
            break;
        case 'H': hub_file = optarg; break;
        case 'C': dev_file = optarg; break;
        case 'd': dev = optarg; break;
        case 'c': create = true; break;
        case 'f': force = true; break;
        case 'n': no_verify = true; break;
        case 'a': h.ca_file = optarg; break;
        case 'g': gateway = optarg; break;
        case 'r':
        case 'm': {
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 65535)
                return cli_usage_error("provision", "'%s' is not a port", optarg);
            *(o == 'r' ? &rest_port : &mqtt_port) = v;
            break;
        }
        default: return ret;
        }
    }
    if ((ret = cli_slot_arg("provision", slot_arg, &slot)))
        return ret;
    if (!!hub_file == !!dev_file)
        return cli_usage_error("provision", "give --hub-connection-string-file (with --device-id) "
                                            "or --connection-string-file");
    if (hub_file && !dev)
        return cli_usage_error("provision", "--hub-connection-string-file needs --device-id");
    if (dev_file && (dev || create))
        return cli_usage_error("provision", "--device-id and --create go with "
                                            "--hub-connection-string-file");
    if (dev && tpmiot_device_id_check(dev))
        return cli_usage_error("provision", "'%s': %s", dev,
                               tpmiot_strerror(TPMIOT_E_BAD_DEVICE_ID));
    if (gateway && tpmiot_hostname_check(gateway))
        return cli_usage_error("provision", "'%s' is not a hostname", gateway);

    /* Step 1: the TPM and the slot, before anything is created in the hub. */
    if ((ret = cli_open(c, &t)))
        return ret;
    if ((rc = tpmiot_slot_info_get(t, slot, &info))) {
        ret = cli_fail_tpm(t, "cannot read the slot", rc);
        goto out;
    }
    if ((info.key_present || info.uri_present) && !force) {
        fprintf(stderr,
                "tpmiot: slot %u is busy (%s/%s); use --force to replace it, or "
                "another slot\n",
                slot, info.hostname[0] ? info.hostname : "?",
                info.device_id[0] ? info.device_id : "?");
        ret = EXIT_FAIL;
        goto out;
    }
    fprintf(stderr, "tpmiot: [1/4] TPM ready, slot %u %s\n", slot,
            info.key_present ? "will be replaced" : "is free");

    if (dev_file) {
        /* A device created elsewhere: its connection string is all we need. */
        if (!(text = cli_read_file(dev_file, 4096, &tlen)))
            goto fail;
        if ((rc = tpmiot_connstr_parse(text, &h.cs)) || !h.cs.device_id[0] ||
            !h.cs.shared_access_key[0]) {
            ret = cli_fail("bad device connection string", rc ? rc : TPMIOT_E_CONNSTR_MISSING);
            goto out;
        }
        fprintf(stderr, "tpmiot: [2/4] device %s of hub %s from the connection string\n",
                h.cs.device_id, h.cs.host_name);
        snprintf(keyb64, sizeof keyb64, "%s", h.cs.shared_access_key);
        dev = h.cs.device_id;
    } else {
        struct buf resp = {0};
        long status = 0;
        if (!(text = cli_read_file(hub_file, 4096, &tlen)))
            goto fail;
        if ((rc = tpmiot_connstr_parse(text, &h.cs)) || !h.cs.host_name[0] ||
            !h.cs.shared_access_key_name[0] || !h.cs.shared_access_key[0]) {
            ret = cli_fail("bad hub connection string (needs HostName, SharedAccessKeyName, "
                           "SharedAccessKey)",
                           rc ? rc : TPMIOT_E_CONNSTR_MISSING);
            goto out;
        }
        snprintf(h.base, sizeof h.base, "https://%s:%ld", gateway ? gateway : h.cs.host_name,
                 rest_port);
        snprintf(path, sizeof path, "/devices/%s", dev);
        if (create) {
            uint8_t k[32];
            char pk[48], sk[48], body[400];
            size_t n1 = sizeof pk, n2 = sizeof sk;
            /* Keys are made here, so that this works on Azure too. */
            RAND_bytes(k, sizeof k);
            tpmiot_base64_encode(k, sizeof k, pk, &n1);
            RAND_bytes(k, sizeof k);
            tpmiot_base64_encode(k, sizeof k, sk, &n2);
            tpmiot_wipe(k, sizeof k);
            snprintf(body, sizeof body,
                     "{\"deviceId\":\"%s\",\"status\":\"enabled\",\"authentication\":{\"type\":"
                     "\"sas\",\"symmetricKey\":{\"primaryKey\":\"%s\",\"secondaryKey\":\"%s\"}}}",
                     dev, pk, sk);
            tpmiot_wipe(pk, sizeof pk);
            tpmiot_wipe(sk, sizeof sk);
            ret = rest(&h, "PUT", path, body, &status, &resp);
            tpmiot_wipe(body, sizeof body);
            if (ret)
                goto out;
            if (status != 200) {
                free_secret_buf(&resp);
                ret = http_fail(status, "create the device");
                goto out;
            }
            created = true;
        } else {
            if ((ret = rest(&h, "GET", path, NULL, &status, &resp)))
                goto out;
            if (status != 200) {
                free_secret_buf(&resp);
                ret = http_fail(status, "fetch the device");
                goto out;
            }
        }
        cJSON *j = cJSON_Parse(resp.p ? resp.p : "");
        bool got = j && take_key(j, keyb64, sizeof keyb64);
        cJSON_Delete(j);
        free_secret_buf(&resp);
        if (!got) {
            fprintf(stderr,
                    "tpmiot: the hub's answer has no symmetric key for %s (X.509 devices "
                    "cannot go into a slot)\n",
                    dev);
            ret = EXIT_FAIL;
            goto out;
        }
        fprintf(stderr, "tpmiot: [2/4] device %s %s hub %s\n", dev,
                created ? "created in" : "fetched from", h.cs.host_name);
    }

    /* Step 3: into the TPM; tpmiot_slot_provision wipes the decoded key. */
    {
        uint8_t key[80];
        size_t kn = sizeof key;
        tpmiot_identity id = {h.cs.host_name, dev, h.cs.module_id[0] ? h.cs.module_id : NULL};
        rc = tpmiot_base64_decode(keyb64, strlen(keyb64), key, &kn);
        tpmiot_wipe(keyb64, sizeof keyb64);
        if (rc) {
            tpmiot_wipe(key, sizeof key);
            ret = cli_fail("the device key", TPMIOT_E_BAD_KEY);
            goto out;
        }
        rc = tpmiot_slot_provision(t, slot, &id, key, kn);
        tpmiot_wipe(key, sizeof key);
        if (rc) {
            ret = cli_fail_tpm(t, "cannot provision the slot", rc);
            goto out;
        }
    }
    fprintf(stderr, "tpmiot: [3/4] key stored in slot %u (handle 0x%08x); no copy is left\n", slot,
            TPMIOT_KEY_HANDLE_BASE + slot);

    if (no_verify) {
        fprintf(stderr, "tpmiot: [4/4] not verified (--no-verify)\n");
    } else {
        tpmiot_client_options co = {
            .ca_file = h.ca_file, .port = (unsigned)mqtt_port, .gateway_host = gateway};
        if ((ret = verify(t, slot, &co)))
            goto out;
        fprintf(stderr,
                "tpmiot: [4/4] verified: connected to %s as %s with a token from the "
                "TPM\n",
                h.cs.host_name, dev);
    }
    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "slot", slot);
        cJSON_AddStringToObject(j, "hostname", h.cs.host_name);
        cJSON_AddStringToObject(j, "deviceId", dev);
        cJSON_AddBoolToObject(j, "created", created);
        cJSON_AddBoolToObject(j, "verified", verified_ok);
        cli_print_json(j);
    }
    ret = EXIT_OK;
    goto out;
fail:
    ret = EXIT_FAIL;
out:
    tpmiot_wipe(keyb64, sizeof keyb64);
    tpmiot_connstr_wipe(&h.cs);
    cli_free_secret(text, tlen);
    tpmiot_tpm_close(&t);
    return ret;
}
