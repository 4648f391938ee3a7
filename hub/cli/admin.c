/*
 * tpmiot-hub device|token|c2d|monitor: the hub's service side, over its REST
 * API (libcurl) and, for monitor, MQTT as a service. Works against a real
 * Azure IoT Hub too for the REST commands, given its connection string.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <mosquitto.h>
#include <tpmiot/tpmiot.h>

#include "hub.h"

struct target {
    char hostname[256];
    char policy[128];
    char key[128];
    char base[400]; /* https://host:port */
    char ca[600];   /* "" = system store */
    char mqtt_host[256];
    unsigned mqtt_port;
};

struct buf {
    char *p;
    size_t n;
};

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "tpmiot-hub: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return HUB_FAIL;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    size_t n = size * nmemb;
    char *np;

    if (b->n + n > 16u << 20)
        return 0;
    if (!(np = realloc(b->p, b->n + n + 1)))
        return 0;
    b->p = np;
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* Loads credentials and address: connection string (file, env) and/or --dir. */
static int load_target(const struct hub_opts *o, const char *cs_file, const char *url,
                       const char *ca_file, struct target *t)
{
    const char *env = getenv("TPMIOT_HUB_CONNECTION_STRING");
    char *cs = NULL;
    size_t len = 0;
    unsigned rest_port = 443;

    memset(t, 0, sizeof *t);
    if (cs_file && !(cs = hub_read_file(cs_file, 4096, &len)))
        return fail("cannot read %s", cs_file);
    if (cs || (env && *env)) {
        tpmiot_connstr c;
        tpmiot_rc rc = tpmiot_connstr_parse(cs ? cs : env, &c);
        if (cs) {
            tpmiot_wipe(cs, len);
            free(cs);
        }
        if (rc || !c.host_name[0] || !c.shared_access_key_name[0] || !c.shared_access_key[0]) {
            tpmiot_connstr_wipe(&c);
            return fail("%s", "the connection string needs HostName, SharedAccessKeyName and "
                              "SharedAccessKey");
        }
        snprintf(t->hostname, sizeof t->hostname, "%s", c.host_name);
        snprintf(t->policy, sizeof t->policy, "%s", c.shared_access_key_name);
        snprintf(t->key, sizeof t->key, "%s", c.shared_access_key);
        snprintf(t->mqtt_host, sizeof t->mqtt_host, "%s",
                 c.gateway_host_name[0] ? c.gateway_host_name : c.host_name);
        tpmiot_connstr_wipe(&c);
    }
    t->mqtt_port = HUB_DEFAULT_MQTT_PORT;
    if (o->dir) {
        char path[600];
        hub_registry *reg = NULL;
        snprintf(path, sizeof path, "%s/registry.db", o->dir);
        if (registry_open(&reg, path, false))
            return fail("no hub in %s", o->dir);
        if (!t->hostname[0]) {
            reg_policy p;
            if (registry_meta_get(reg, "hostname", t->hostname, sizeof t->hostname) ||
                registry_policy_get(reg, "iothubowner", &p)) {
                registry_close(&reg);
                return fail("cannot read the owner policy in %s", o->dir);
            }
            snprintf(t->policy, sizeof t->policy, "%s", p.name);
            snprintf(t->key, sizeof t->key, "%s", p.primary_key);
            tpmiot_wipe(&p, sizeof p);
        }
        registry_close(&reg);
        snprintf(t->ca, sizeof t->ca, "%s/ca.crt", o->dir);
        snprintf(path, sizeof path, "%s/run.json", o->dir);
        char *run = hub_read_file(path, 4096, NULL);
        cJSON *j = run ? cJSON_Parse(run) : NULL;
        free(run);
        if (!j)
            return fail("the hub in %s is not running (no run.json); start it with `tpmiot-hub "
                        "run`",
                        o->dir);
        cJSON *rp = cJSON_GetObjectItem(j, "restPort"), *mp = cJSON_GetObjectItem(j, "mqttPort");
        rest_port = cJSON_IsNumber(rp) ? (unsigned)rp->valuedouble : HUB_DEFAULT_REST_PORT;
        t->mqtt_port = cJSON_IsNumber(mp) ? (unsigned)mp->valuedouble : HUB_DEFAULT_MQTT_PORT;
        cJSON_Delete(j);
        /* The certificate names 127.0.0.1, so TLS checks hold on loopback. */
        snprintf(t->base, sizeof t->base, "https://127.0.0.1:%u", rest_port);
        snprintf(t->mqtt_host, sizeof t->mqtt_host, "127.0.0.1");
    } else if (t->hostname[0]) {
        snprintf(t->base, sizeof t->base, "https://%s:%u", t->hostname, rest_port);
    }
    if (!t->hostname[0])
        return fail("%s", "no hub given: use --dir DIR, --connection-string-file F or "
                          "TPMIOT_HUB_CONNECTION_STRING");
    if (url)
        snprintf(t->base, sizeof t->base, "%s", url);
    if (ca_file)
        snprintf(t->ca, sizeof t->ca, "%s", ca_file);
    return HUB_OK;
}

/* One REST call; *status gets the HTTP status, *body the response (free it). */
static int http(const struct target *t, const char *method, const char *path, const char *body,
                size_t body_len, struct curl_slist *extra, long *status, char **resp)
{
    char url[1200], auth[1400];
    char *tok = hub_policy_token(t->hostname, t->policy, t->key, 300);
    struct curl_slist *h = extra;
    struct buf b = {0};
    CURL *c;
    CURLcode rc;

    *resp = NULL;
    if (!tok)
        return fail("%s", "cannot sign a token with the connection string's key");
    snprintf(url, sizeof url, "%s%s%sapi-version=%s", t->base, path, strchr(path, '?') ? "&" : "?",
             HUB_API_VERSION);
    snprintf(auth, sizeof auth, "Authorization: %s", tok);
    tpmiot_free(tok);
    h = curl_slist_append(h, auth);
    tpmiot_wipe(auth, sizeof auth);
    /* JSON unless the caller set its own (cloud-to-device bodies are the
     * device's payload; an empty "Content-Type:" stops curl adding one). */
    bool has_ct = false;
    for (struct curl_slist *p = extra; p; p = p->next)
        has_ct |= !strncasecmp(p->data, "Content-Type:", 13);
    if (!has_ct)
        h = curl_slist_append(h, "Content-Type: application/json; charset=utf-8");
    c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    if (t->ca[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, t->ca);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    /* The token is in the header list: wipe before freeing. */
    for (struct curl_slist *p = h; p; p = p->next)
        tpmiot_wipe(p->data, strlen(p->data));
    curl_slist_free_all(h);
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE) {
        free(b.p);
        return fail("the hub's certificate is not trusted (%s): pass --ca-file with its CA",
                    curl_easy_strerror(rc));
    }
    if (rc) {
        free(b.p);
        fprintf(stderr, "tpmiot-hub: cannot reach the hub at %s: %s\n", t->base,
                curl_easy_strerror(rc));
        return HUB_FAIL;
    }
    *resp = b.p;
    return HUB_OK;
}

/* Prints "HTTP 404 DeviceNotFound: ..." from an Azure-style error body. */
static int http_error(long status, const char *body)
{
    cJSON *j = body ? cJSON_Parse(body) : NULL, *m = j ? cJSON_GetObjectItem(j, "Message") : NULL;
    const char *msg = cJSON_IsString(m) ? m->valuestring : "";
    const char *hint = status == 401   ? " (wrong or expired credentials)"
                       : status == 403 ? " (the policy lacks the permission)"
                                       : "";

    if (!strncmp(msg, "ErrorCode:", 10))
        msg += 10;
    fprintf(stderr, "tpmiot-hub: HTTP %ld%s%s%s\n", status, *msg ? " " : "", msg, hint);
    cJSON_Delete(j);
    return HUB_FAIL;
}

static bool id_ok(const char *id)
{
    if (tpmiot_device_id_check(id)) {
        fprintf(stderr, "tpmiot-hub: invalid device id '%s': %s\n", id,
                tpmiot_strerror(TPMIOT_E_BAD_DEVICE_ID));
        return false;
    }
    return true;
}

/* Masks the keys unless asked: they are secrets, and `device connection-string` exists. */
static void print_device(cJSON *d, bool show_keys)
{
    cJSON *sym = cJSON_GetObjectItem(cJSON_GetObjectItem(d, "authentication"), "symmetricKey");
    char *s;

    if (sym && !show_keys) {
        if (cJSON_GetObjectItem(sym, "primaryKey"))
            cJSON_ReplaceItemInObject(sym, "primaryKey", cJSON_CreateString("(hidden)"));
        if (cJSON_GetObjectItem(sym, "secondaryKey"))
            cJSON_ReplaceItemInObject(sym, "secondaryKey", cJSON_CreateString("(hidden)"));
    }
    s = cJSON_Print(d);
    puts(s);
    free(s);
}

static const char *g_module; /* --module: the commands act on that module of the device */

static void device_path(char *out, size_t len, const char *id)
{
    if (g_module)
        snprintf(out, len, "/devices/%s/modules/%s", id, g_module);
    else
        snprintf(out, len, "/devices/%s", id);
}

static int get_device(const struct target *t, const char *id, cJSON **out, char *etag, size_t len)
{
    char path[300], *resp;
    long status = 0;

    device_path(path, sizeof path, id);
    if (http(t, "GET", path, NULL, 0, NULL, &status, &resp))
        return HUB_FAIL;
    if (status != 200) {
        int r = http_error(status, resp);
        free(resp);
        return r;
    }
    *out = cJSON_Parse(resp);
    free(resp);
    cJSON *e = cJSON_GetObjectItem(*out, "etag");
    snprintf(etag, len, "%s", cJSON_IsString(e) ? e->valuestring : "*");
    return *out ? HUB_OK : fail("%s", "the hub sent a body that is not JSON");
}

static int put_device(const struct target *t, const char *id, cJSON *d, const char *etag,
                      bool show_keys, bool quiet)
{
    char path[300], hdr[120], *body = cJSON_PrintUnformatted(d), *resp;
    struct curl_slist *h = NULL;
    long status = 0;
    int ret;

    device_path(path, sizeof path, id);
    if (etag) {
        snprintf(hdr, sizeof hdr, "If-Match: \"%s\"", etag);
        h = curl_slist_append(h, hdr);
    }
    ret = http(t, "PUT", path, body, strlen(body), h, &status, &resp);
    tpmiot_wipe(body, strlen(body));
    free(body);
    if (ret)
        return ret;
    if (status != 200) {
        ret = http_error(status, resp);
    } else if (!quiet) {
        cJSON *j = cJSON_Parse(resp);
        if (j)
            print_device(j, show_keys);
        cJSON_Delete(j);
    }
    if (resp) {
        tpmiot_wipe(resp, strlen(resp));
        free(resp);
    }
    return ret;
}

static int read_key_file(const char *path, char *out, size_t len)
{
    size_t n = 0;
    char *k = hub_read_file(path, 1024, &n);
    uint8_t raw[80];
    size_t rn = sizeof raw;

    if (!k)
        return fail("cannot read %s", path);
    while (n && strchr("\r\n ", k[n - 1]))
        k[--n] = '\0';
    if (tpmiot_base64_decode(k, n, raw, &rn) || rn < 16 || rn > 64 || n >= len) {
        tpmiot_wipe(k, n);
        free(k);
        return fail("%s does not hold a base64 key of 16-64 bytes", path);
    }
    memcpy(out, k, n + 1);
    tpmiot_wipe(k, n);
    tpmiot_wipe(raw, sizeof raw);
    free(k);
    return HUB_OK;
}

static const char device_usage[] =
    "usage: tpmiot-hub [--dir DIR] device create ID [--primary-key-file F] [--secondary-key-file "
    "F]\n"
    "       tpmiot-hub [--dir DIR] device show ID [--show-keys]\n"
    "       tpmiot-hub [--dir DIR] device list [--show-keys]\n"
    "       tpmiot-hub [--dir DIR] device delete|disable|enable ID\n"
    "       tpmiot-hub [--dir DIR] device rotate-key ID [--secondary]\n"
    "       tpmiot-hub [--dir DIR] device connection-string ID [--secondary]\n"
    "With --module M, create/show/delete/rotate-key/connection-string act on module M.\n"
    "Common options: --connection-string-file F (else $TPMIOT_HUB_CONNECTION_STRING, else the\n"
    "owner policy in --dir), --url https://HOST:PORT, --ca-file F.\n"
    "Keys are hidden in output unless --show-keys; connection-string prints the device's\n"
    "connection string with its primary key, for `tpmiot slot provision`.\n";

struct admin_opts {
    const char *cs_file, *url, *ca_file, *pk_file, *sk_file, *device, *module, *content_type;
    bool show_keys, secondary;
    long count, timeout;
    const char *props[64];
    int nprops;
};

static int parse_admin(int argc, char **argv, int first, struct admin_opts *a, char **rest,
                       int *nrest, const char *cmd)
{
    static const struct option opts[] = {{"connection-string-file", required_argument, NULL, 'c'},
                                         {"url", required_argument, NULL, 'u'},
                                         {"ca-file", required_argument, NULL, 'a'},
                                         {"primary-key-file", required_argument, NULL, 'P'},
                                         {"secondary-key-file", required_argument, NULL, 'S'},
                                         {"show-keys", no_argument, NULL, 'k'},
                                         {"secondary", no_argument, NULL, 's'},
                                         {"device", required_argument, NULL, 'd'},
                                         {"prop", required_argument, NULL, 'p'},
                                         {"count", required_argument, NULL, 'n'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"module", required_argument, NULL, 'M'},
                                         {"content-type", required_argument, NULL, 'T'},
                                         {NULL, 0, NULL, 0}};
    int c;

    optind = first;
    opterr = 0;
    *nrest = 0;
    while ((c = getopt_long(argc, argv, "-", opts, NULL)) != -1) {
        switch (c) {
        case 1:
            if (*nrest >= 4) {
                fprintf(stderr, "tpmiot-hub %s: too many arguments (see --help)\n", cmd);
                return HUB_USAGE;
            }
            rest[(*nrest)++] = optarg;
            break;
        case 'c': a->cs_file = optarg; break;
        case 'u': a->url = optarg; break;
        case 'a': a->ca_file = optarg; break;
        case 'P': a->pk_file = optarg; break;
        case 'S': a->sk_file = optarg; break;
        case 'k': a->show_keys = true; break;
        case 's': a->secondary = true; break;
        case 'd': a->device = optarg; break;
        case 'M': a->module = optarg; break;
        case 'T': a->content_type = optarg; break;
        case 'n': a->count = strtol(optarg, NULL, 10); break;
        case 't': a->timeout = strtol(optarg, NULL, 10); break;
        case 'p':
            if (a->nprops >= 60 || !strchr(optarg, '=') || optarg[0] == '=') {
                fprintf(stderr, "tpmiot-hub %s: --prop takes key=value (at most 60)\n", cmd);
                return HUB_USAGE;
            }
            a->props[a->nprops++] = optarg;
            break;
        default:
            fprintf(stderr, "tpmiot-hub %s: unknown option or missing value: '%s' (see --help)\n",
                    cmd, argv[optind - 1]);
            return HUB_USAGE;
        }
    }
    return HUB_OK;
}

static int cmd_device(const struct hub_opts *o, int argc, char **argv)
{
    struct admin_opts a = {0};
    struct target t;
    char *rest[4], etag[64];
    const char *sub, *id;
    int n, ret;
    cJSON *d = NULL;

    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(device_usage, stdout);
            return HUB_OK;
        }
    if ((ret = parse_admin(argc, argv, 1, &a, rest, &n, "device")))
        return ret;
    if (n < 1) {
        fprintf(stderr, "tpmiot-hub device: missing subcommand (see --help)\n");
        return HUB_USAGE;
    }
    sub = rest[0];
    id = n > 1 ? rest[1] : NULL;
    if (strcmp(sub, "list") && (n != 2 || !id)) {
        fprintf(stderr, "tpmiot-hub device %s: needs one device id (see --help)\n", sub);
        return HUB_USAGE;
    }
    if ((id && !id_ok(id)) || (a.module && !id_ok(a.module)))
        return HUB_USAGE;
    g_module = a.module;
    if (a.module && (!strcmp(sub, "disable") || !strcmp(sub, "enable") || !strcmp(sub, "list"))) {
        fprintf(stderr, "tpmiot-hub device %s: not for modules (they have no status)\n", sub);
        return HUB_USAGE;
    }
    if ((ret = load_target(o, a.cs_file, a.url, a.ca_file, &t)))
        return ret;

    if (!strcmp(sub, "create")) {
        char pk[REG_KEY_MAX] = "", sk[REG_KEY_MAX] = "";
        if ((a.pk_file && read_key_file(a.pk_file, pk, sizeof pk)) ||
            (a.sk_file && read_key_file(a.sk_file, sk, sizeof sk)))
            return HUB_FAIL;
        /* Keys are made here when not given, so this works on Azure too. */
        if ((!pk[0] && registry_new_key(pk, sizeof pk)) ||
            (!sk[0] && registry_new_key(sk, sizeof sk)))
            return fail("%s", "no randomness");
        d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "deviceId", id);
        if (a.module)
            cJSON_AddStringToObject(d, "moduleId", a.module);
        else
            cJSON_AddStringToObject(d, "status", "enabled");
        cJSON *auth = cJSON_AddObjectToObject(d, "authentication");
        cJSON_AddStringToObject(auth, "type", "sas");
        cJSON *sym = cJSON_AddObjectToObject(auth, "symmetricKey");
        cJSON_AddStringToObject(sym, "primaryKey", pk);
        cJSON_AddStringToObject(sym, "secondaryKey", sk);
        tpmiot_wipe(pk, sizeof pk);
        tpmiot_wipe(sk, sizeof sk);
        ret = put_device(&t, id, d, NULL, a.show_keys, false);
    } else if (!strcmp(sub, "show")) {
        if (!(ret = get_device(&t, id, &d, etag, sizeof etag)))
            print_device(d, a.show_keys);
    } else if (!strcmp(sub, "list")) {
        char *resp;
        long status = 0;
        if (!(ret = http(&t, "GET", "/devices?top=1000", NULL, 0, NULL, &status, &resp))) {
            if (status != 200) {
                ret = http_error(status, resp);
            } else {
                cJSON *arr = cJSON_Parse(resp), *it;
                if (o->json || a.show_keys) {
                    cJSON_ArrayForEach(it, arr) print_device(it, a.show_keys);
                } else {
                    printf("%-40s %-9s %-13s %s\n", "DEVICE ID", "STATUS", "CONNECTION",
                           "C2D SENT");
                    cJSON_ArrayForEach(it, arr)
                    {
                        cJSON *di = cJSON_GetObjectItem(it, "deviceId"),
                              *st = cJSON_GetObjectItem(it, "status"),
                              *cs = cJSON_GetObjectItem(it, "connectionState"),
                              *cc = cJSON_GetObjectItem(it, "cloudToDeviceMessageCount");
                        printf("%-40s %-9s %-13s %d\n", cJSON_GetStringValue(di),
                               cJSON_GetStringValue(st), cJSON_GetStringValue(cs),
                               cJSON_IsNumber(cc) ? (int)cc->valuedouble : 0);
                    }
                }
                cJSON_Delete(arr);
            }
            if (resp) {
                tpmiot_wipe(resp, strlen(resp));
                free(resp);
            }
        }
    } else if (!strcmp(sub, "delete")) {
        char path[300], *resp;
        long status = 0;
        struct curl_slist *h = curl_slist_append(NULL, "If-Match: *");
        device_path(path, sizeof path, id);
        if (!(ret = http(&t, "DELETE", path, NULL, 0, h, &status, &resp)) && status != 204 &&
            status != 200)
            ret = http_error(status, resp);
        free(resp);
    } else if (!strcmp(sub, "disable") || !strcmp(sub, "enable")) {
        if (!(ret = get_device(&t, id, &d, etag, sizeof etag))) {
            cJSON_ReplaceItemInObject(d, "status",
                                      cJSON_CreateString(sub[0] == 'd' ? "disabled" : "enabled"));
            ret = put_device(&t, id, d, etag, false, true);
            if (!ret)
                fprintf(stderr, "tpmiot-hub: device %s %sd\n", id, sub);
        }
    } else if (!strcmp(sub, "rotate-key")) {
        char nk[REG_KEY_MAX];
        if (!(ret = get_device(&t, id, &d, etag, sizeof etag))) {
            cJSON *sym =
                cJSON_GetObjectItem(cJSON_GetObjectItem(d, "authentication"), "symmetricKey");
            if (!sym || registry_new_key(nk, sizeof nk)) {
                ret = fail("%s", "the device has no symmetric keys");
            } else {
                cJSON_ReplaceItemInObject(sym, a.secondary ? "secondaryKey" : "primaryKey",
                                          cJSON_CreateString(nk));
                tpmiot_wipe(nk, sizeof nk);
                ret = put_device(&t, id, d, etag, false, true);
                if (!ret)
                    fprintf(stderr,
                            "tpmiot-hub: %s key of %s rotated; sessions using it are "
                            "disconnected\n",
                            a.secondary ? "secondary" : "primary", id);
            }
        }
    } else if (!strcmp(sub, "connection-string")) {
        if (!(ret = get_device(&t, id, &d, etag, sizeof etag))) {
            cJSON *pk = cJSON_GetObjectItem(
                cJSON_GetObjectItem(cJSON_GetObjectItem(d, "authentication"), "symmetricKey"),
                a.secondary ? "secondaryKey" : "primaryKey");
            if (!cJSON_IsString(pk))
                ret = fail("%s", "the device has no symmetric key");
            else if (a.module)
                printf("HostName=%s;DeviceId=%s;ModuleId=%s;SharedAccessKey=%s\n", t.hostname, id,
                       a.module, pk->valuestring);
            else
                printf("HostName=%s;DeviceId=%s;SharedAccessKey=%s\n", t.hostname, id,
                       pk->valuestring);
        }
    } else {
        fprintf(stderr, "tpmiot-hub device: unknown subcommand '%s' (see --help)\n", sub);
        ret = HUB_USAGE;
    }
    if (d) {
        /* The parsed record holds keys. */
        char *s = cJSON_PrintUnformatted(d);
        if (s) {
            tpmiot_wipe(s, strlen(s));
            free(s);
        }
        cJSON_Delete(d);
    }
    tpmiot_wipe(&t, sizeof t);
    return ret;
}

static int cmd_token(const struct hub_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"policy", required_argument, NULL, 'p'},
                                         {"ttl", required_argument, NULL, 't'},
                                         {"connection-string-file", required_argument, NULL, 'c'},
                                         {NULL, 0, NULL, 0}};
    const char *policy = "iothubowner", *cs_file = NULL;
    long ttl = 3600;
    char key[128] = "", *tok;
    struct target t;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c == 'p')
            policy = optarg;
        else if (c == 't')
            ttl = strtol(optarg, NULL, 10);
        else if (c == 'c')
            cs_file = optarg;
        else {
            fputs("usage: tpmiot-hub [--dir DIR] token [--policy NAME] [--ttl S] "
                  "[--connection-string-file F]\n"
                  "Prints a hub-level SAS token for the policy (default iothubowner).\n",
                  argv[optind - 1] && strcmp(argv[optind - 1], "--help") ? stderr : stdout);
            return argv[optind - 1] && strcmp(argv[optind - 1], "--help") ? HUB_USAGE : HUB_OK;
        }
    }
    if (ttl <= 0 || ttl > 366L * 86400) {
        fprintf(stderr, "tpmiot-hub token: --ttl must be 1 s to 366 days\n");
        return HUB_USAGE;
    }
    memset(&t, 0, sizeof t);
    if (o->dir && !cs_file) {
        char path[600];
        hub_registry *reg = NULL;
        reg_policy p;
        snprintf(path, sizeof path, "%s/registry.db", o->dir);
        if (registry_open(&reg, path, false) ||
            registry_meta_get(reg, "hostname", t.hostname, sizeof t.hostname)) {
            registry_close(&reg);
            return fail("no hub in %s", o->dir);
        }
        if (registry_policy_get(reg, policy, &p)) {
            registry_close(&reg);
            return fail("no policy '%s' in this hub", policy);
        }
        snprintf(key, sizeof key, "%s", p.primary_key);
        tpmiot_wipe(&p, sizeof p);
        registry_close(&reg);
    } else {
        if (load_target(o, cs_file, NULL, NULL, &t))
            return HUB_FAIL;
        if (strcmp(t.policy, policy))
            return fail("the connection string is for policy '%s'; give that one's", t.policy);
        snprintf(key, sizeof key, "%s", t.key);
    }
    tok = hub_policy_token(t.hostname, policy, key, (uint64_t)ttl);
    tpmiot_wipe(key, sizeof key);
    tpmiot_wipe(&t, sizeof t);
    if (!tok)
        return fail("%s", "cannot sign the token");
    puts(tok);
    tpmiot_free(tok);
    return HUB_OK;
}

static int cmd_c2d(const struct hub_opts *o, int argc, char **argv)
{
    struct admin_opts a = {0};
    struct target t;
    struct curl_slist *h = NULL;
    char *rest[4], path[300], hdr[1200], *resp = NULL;
    long status = 0;
    int n, ret;

    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help")) {
            puts("usage: tpmiot-hub [--dir DIR] c2d send ID [--prop k=v]... [--content-type T] "
                 "MESSAGE\n"
                 "Sends a cloud-to-device message (POST /devices/ID/messages/devicebound).\n"
                 "It is queued for a device that is offline with a persistent session.");
            return HUB_OK;
        }
    if ((ret = parse_admin(argc, argv, 1, &a, rest, &n, "c2d")))
        return ret;
    if (n != 3 || strcmp(rest[0], "send")) {
        fprintf(stderr, "tpmiot-hub c2d: usage: c2d send ID [--prop k=v]... MESSAGE\n");
        return HUB_USAGE;
    }
    if (!id_ok(rest[1]))
        return HUB_USAGE;
    if ((ret = load_target(o, a.cs_file, a.url, a.ca_file, &t)))
        return ret;
    for (int i = 0; i < a.nprops; i++) {
        const char *eq = strchr(a.props[i], '=');
        /* Header names are tokens; anything else goes URL-encoded in the value. */
        for (const char *k = a.props[i]; k < eq; k++)
            if (!(*k == '-' || *k == '_' || *k == '.' || (*k >= '0' && *k <= '9') ||
                  (*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z'))) {
                curl_slist_free_all(h);
                fprintf(stderr, "tpmiot-hub c2d: property names are A-Z a-z 0-9 - _ .\n");
                return HUB_USAGE;
            }
        snprintf(hdr, sizeof hdr, "iothub-app-%.*s: %s", (int)(eq - a.props[i]), a.props[i],
                 eq + 1);
        h = curl_slist_append(h, hdr);
    }
    if (a.content_type) {
        snprintf(hdr, sizeof hdr, "Content-Type: %s", a.content_type);
        h = curl_slist_append(h, hdr);
    } else {
        h = curl_slist_append(h, "Content-Type:");
    }
    snprintf(path, sizeof path, "/devices/%s/messages/devicebound", rest[1]);
    ret = http(&t, "POST", path, rest[2], strlen(rest[2]), h, &status, &resp);
    if (!ret && status != 204 && status != 200)
        ret = http_error(status, resp);
    else if (!ret)
        fprintf(stderr, "tpmiot-hub: message for %s accepted\n", rest[1]);
    free(resp);
    tpmiot_wipe(&t, sizeof t);
    return ret;
}

/* ---- monitor ---- */

static volatile sig_atomic_t stop_monitor;
static void on_stop(int sig)
{
    (void)sig;
    stop_monitor = 1;
}

struct mon {
    bool json;
    long count, seen;
    int connack;
    const char *device;
};

static void mon_connect(struct mosquitto *m, void *arg, int rc)
{
    struct mon *s = arg;
    char topic[300];

    s->connack = rc;
    if (rc)
        return;
    snprintf(topic, sizeof topic, "devices/%s/messages/events/#", s->device ? s->device : "+");
    mosquitto_subscribe(m, NULL, topic, 1);
}

static void mon_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    struct mon *s = arg;
    char dev[130], bag[4096];
    const char *p = msg->topic + strlen("devices/"), *q = strchr(p, '/'), *ev;
    tpmiot_prop props[64];
    size_t n = 64;

    (void)m;
    if (!q || (size_t)(q - p) >= sizeof dev || !(ev = strstr(q, "/messages/events/")))
        return;
    memcpy(dev, p, (size_t)(q - p));
    dev[q - p] = '\0';
    snprintf(bag, sizeof bag, "%s", ev + strlen("/messages/events/"));
    if (tpmiot_propbag_decode(bag, props, &n))
        n = 0;
    if (s->json) {
        cJSON *j = cJSON_CreateObject(), *pj;
        char *pl = malloc((size_t)msg->payloadlen + 1), *out;
        cJSON_AddStringToObject(j, "deviceId", dev);
        pj = cJSON_AddObjectToObject(j, "properties");
        for (size_t i = 0; i < n; i++)
            cJSON_AddStringToObject(pj, props[i].key, props[i].value);
        if (pl) {
            memcpy(pl, msg->payload, (size_t)msg->payloadlen);
            pl[msg->payloadlen] = '\0';
            cJSON_AddStringToObject(j, "payload", pl);
            free(pl);
        }
        out = cJSON_PrintUnformatted(j);
        puts(out);
        free(out);
        cJSON_Delete(j);
    } else {
        printf("%s:", dev);
        for (size_t i = 0; i < n; i++)
            printf(" %s=%s", props[i].key, props[i].value);
        printf(" | %.*s\n", msg->payloadlen, (const char *)msg->payload);
    }
    fflush(stdout);
    if (s->count && ++s->seen >= s->count)
        stop_monitor = 1;
}

static int cmd_monitor(const struct hub_opts *o, int argc, char **argv)
{
    struct admin_opts a = {0};
    struct mon s = {.connack = -1};
    struct target t;
    struct mosquitto *m = NULL;
    char *rest[4], cid[64], user[300], *tok;
    int n, ret;
    time_t start = time(NULL);

    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help")) {
            puts("usage: tpmiot-hub [--dir DIR] [--json] monitor [--device ID] [--count N] "
                 "[--timeout S]\n"
                 "Prints device-to-cloud messages as they arrive, as a service client over MQTT.\n"
                 "--json: one line each, {\"deviceId\":..,\"properties\":{..},\"payload\":..}.\n"
                 "Stops after N messages or S seconds when given, else at SIGINT/SIGTERM.");
            return HUB_OK;
        }
    if ((ret = parse_admin(argc, argv, 1, &a, rest, &n, "monitor")))
        return ret;
    if (n) {
        fprintf(stderr, "tpmiot-hub monitor: unexpected argument '%s'\n", rest[0]);
        return HUB_USAGE;
    }
    if (a.device && !id_ok(a.device))
        return HUB_USAGE;
    if ((ret = load_target(o, a.cs_file, a.url, a.ca_file, &t)))
        return ret;
    s.json = o->json;
    s.count = a.count;
    s.device = a.device;
    if (!(tok = hub_policy_token(t.hostname, t.policy, t.key, 86400)))
        return fail("%s", "cannot sign a token");
    mosquitto_lib_init();
    snprintf(cid, sizeof cid, "svc#monitor-%ld", (long)getpid());
    snprintf(user, sizeof user, "service@%s", t.hostname);
    m = mosquitto_new(cid, true, &s);
    mosquitto_connect_callback_set(m, mon_connect);
    mosquitto_message_callback_set(m, mon_message);
    mosquitto_username_pw_set(m, user, tok);
    tpmiot_free(tok);
    if (mosquitto_tls_set(m, t.ca[0] ? t.ca : NULL, t.ca[0] ? NULL : "/etc/ssl/certs", NULL, NULL,
                          NULL) ||
        mosquitto_connect(m, t.mqtt_host, (int)t.mqtt_port, 30)) {
        ret = fail("cannot connect to the hub's MQTT at %s", t.mqtt_host);
        goto out;
    }
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    while (!stop_monitor) {
        if (mosquitto_loop(m, 200, 1) != MOSQ_ERR_SUCCESS && s.connack != 0) {
            ret = fail("%s", "the hub refused or dropped the monitor connection");
            goto out;
        }
        if (s.connack > 0) {
            ret = fail("%s", "the hub refused the monitor (policy lacks ServiceConnect?)");
            goto out;
        }
        if (a.timeout && time(NULL) - start >= a.timeout)
            break;
    }
    ret = a.count && s.seen < a.count ? HUB_FAIL : HUB_OK;
    if (ret)
        fprintf(stderr, "tpmiot-hub: monitor saw %ld of %ld messages\n", s.seen, a.count);
out:
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    tpmiot_wipe(&t, sizeof t);
    return ret;
}

int cmd_admin(const struct hub_opts *o, int argc, char **argv)
{
    if (!strcmp(argv[0], "device"))
        return cmd_device(o, argc, argv);
    if (!strcmp(argv[0], "token"))
        return cmd_token(o, argc, argv);
    if (!strcmp(argv[0], "c2d"))
        return cmd_c2d(o, argc, argv);
    return cmd_monitor(o, argc, argv);
}
