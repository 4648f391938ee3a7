/*
 * The REST API: the Azure IoT Hub service API subset over HTTPS
 * (libmicrohttpd, one internal thread). Devices, modules, cloud-to-device.
 * Every request carries a hub policy SAS token; see docs/hub.md.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <tpmiot/tpmiot.h>

#include "../common/reqbody.h"

#include "../cli/hub.h"
#include "auth.h"
#include "registry.h"

#define BODY_MAX (64 * 1024)
#define C2D_MAX (64 * 1024) /* Azure's limit for a cloud-to-device message */

struct rest {
    struct MHD_Daemon *d;
    hub_registry *reg;
    auth_config cfg;
    char hostname[256];
    char ca_file[600];
    unsigned mqtt_port;
    char *cert, *key;
};

static void iso_time(int64_t t, char *out, size_t len)
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (t <= 0) {
        snprintf(out, len, "0001-01-01T00:00:00Z");
        return;
    }
    gmtime_r(&tt, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%S.0000000Z", &tm);
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, cJSON *j,
                                 const char *etag)
{
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    struct MHD_Response *r;
    enum MHD_Result ok;

    cJSON_Delete(j);
    r = MHD_create_response_from_buffer(s ? strlen(s) : 0, s ? s : (void *)"",
                                        s ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
    if (etag) {
        char q[64];
        snprintf(q, sizeof q, "\"%s\"", etag);
        MHD_add_response_header(r, "ETag", q);
    }
    ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* Azure's error shape: {"Message":"ErrorCode:Code;text","ExceptionMessage":""}. */
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *code,
                                  const char *text)
{
    char msg[512];
    cJSON *j = cJSON_CreateObject();

    snprintf(msg, sizeof msg, "ErrorCode:%s;%s", code, text);
    cJSON_AddStringToObject(j, "Message", msg);
    cJSON_AddStringToObject(j, "ExceptionMessage", "");
    return send_json(c, status, j, NULL);
}

static cJSON *device_json(const reg_device *d)
{
    cJSON *j = cJSON_CreateObject(), *auth, *sym, *x509, *cap;
    char t[40], etag[48];

    registry_etag(d, etag, sizeof etag);
    cJSON_AddStringToObject(j, "deviceId", d->device_id);
    if (d->module_id[0])
        cJSON_AddStringToObject(j, "moduleId", d->module_id);
    cJSON_AddStringToObject(j, "generationId", d->generation_id);
    cJSON_AddStringToObject(j, "etag", etag);
    cJSON_AddStringToObject(j, "connectionState", d->connected ? "Connected" : "Disconnected");
    if (!d->module_id[0]) {
        cJSON_AddStringToObject(j, "status", d->enabled ? "enabled" : "disabled");
        if (d->status_reason[0])
            cJSON_AddStringToObject(j, "statusReason", d->status_reason);
        else
            cJSON_AddNullToObject(j, "statusReason");
    }
    iso_time(d->connection_state_updated, t, sizeof t);
    cJSON_AddStringToObject(j, "connectionStateUpdatedTime", t);
    iso_time(d->last_activity, t, sizeof t);
    cJSON_AddStringToObject(j, "lastActivityTime", t);
    cJSON_AddNumberToObject(j, "cloudToDeviceMessageCount", (double)d->c2d_count);
    auth = cJSON_AddObjectToObject(j, "authentication");
    sym = cJSON_AddObjectToObject(auth, "symmetricKey");
    cJSON_AddStringToObject(sym, "primaryKey", d->primary_key);
    cJSON_AddStringToObject(sym, "secondaryKey", d->secondary_key);
    x509 = cJSON_AddObjectToObject(auth, "x509Thumbprint");
    cJSON_AddNullToObject(x509, "primaryThumbprint");
    cJSON_AddNullToObject(x509, "secondaryThumbprint");
    cJSON_AddStringToObject(auth, "type", "sas");
    if (!d->module_id[0]) {
        cap = cJSON_AddObjectToObject(j, "capabilities");
        cJSON_AddBoolToObject(cap, "iotEdge", false);
    }
    return j;
}

static enum MHD_Result registry_error(struct MHD_Connection *c, reg_rc rc, bool module)
{
    switch (rc) {
    case REG_NOT_FOUND:
        return send_error(c, 404, module ? "ModuleNotFound" : "DeviceNotFound",
                          module ? "The module does not exist." : "The device does not exist.");
    case REG_PRECONDITION:
        return send_error(c, 412, "PreconditionFailed", "The etag does not match (If-Match).");
    case REG_EXISTS:
        return send_error(c, 409, module ? "ModuleAlreadyExistsOnDevice" : "DeviceAlreadyExists",
                          "It exists already; give If-Match to update it.");
    case REG_INVALID: return send_error(c, 400, "ArgumentInvalid", "Invalid id or key.");
    default: return send_error(c, 500, "ServerError", "The registry failed.");
    }
}

/* Authorization: 401 for a bad token, 403 for a missing right. */
static bool authorize(struct rest *r, struct MHD_Connection *c, unsigned right,
                      enum MHD_Result *ret)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    auth_identity id;
    auth_result a;

    if (!h) {
        *ret = send_error(c, 401, "IotHubUnauthorizedAccess", "Authorization header missing.");
        return false;
    }
    a = auth_service_token(r->reg, &r->cfg, h, (uint64_t)time(NULL), right, &id);
    if (a == AUTH_OK)
        return true;
    fprintf(stderr, "tpmiot-hub: REST refused: %s\n", auth_result_str(a));
    if (a == AUTH_NO_RIGHT)
        *ret = send_error(c, 403, "IotHubUnauthorized", "The policy lacks the permission.");
    else
        *ret = send_error(c, 401, "IotHubUnauthorizedAccess", auth_result_str(a));
    return false;
}

struct list_ctx {
    cJSON *arr;
};

static void add_to_list(const reg_device *d, void *arg)
{
    cJSON_AddItemToArray(((struct list_ctx *)arg)->arr, device_json(d));
}

/* Takes the body of a device PUT into *d (over the current record, if any). */
static const char *parse_device_body(const char *body, size_t len, reg_device *d)
{
    cJSON *j = cJSON_ParseWithLength(body, len), *v, *auth, *sym;
    const char *err = NULL;

    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return "The body is not a JSON object.";
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "deviceId")) &&
        (!cJSON_IsString(v) || strcmp(v->valuestring, d->device_id))) {
        err = "deviceId must be a string equal to the id in the path.";
        goto out;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "moduleId")) &&
        (!cJSON_IsString(v) || strcmp(v->valuestring, d->module_id))) {
        err = "moduleId must be a string equal to the id in the path.";
        goto out;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "status"))) {
        if (!cJSON_IsString(v) ||
            (strcmp(v->valuestring, "enabled") && strcmp(v->valuestring, "disabled"))) {
            err = "status must be \"enabled\" or \"disabled\".";
            goto out;
        }
        d->enabled = !strcmp(v->valuestring, "enabled");
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "statusReason")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof d->status_reason) {
            err = "statusReason must be a string of at most 128 characters.";
            goto out;
        }
        snprintf(d->status_reason, sizeof d->status_reason, "%s", v->valuestring);
    }
    if ((auth = cJSON_GetObjectItemCaseSensitive(j, "authentication"))) {
        if (!cJSON_IsObject(auth)) {
            err = "authentication must be an object.";
            goto out;
        }
        if ((v = cJSON_GetObjectItemCaseSensitive(auth, "type")) &&
            (!cJSON_IsString(v) || strcmp(v->valuestring, "sas"))) {
            err = "authentication.type must be \"sas\" (X.509 is not supported).";
            goto out;
        }
        if ((sym = cJSON_GetObjectItemCaseSensitive(auth, "symmetricKey"))) {
            static const char *names[] = {"primaryKey", "secondaryKey"};
            char *dst[] = {d->primary_key, d->secondary_key};
            if (!cJSON_IsObject(sym)) {
                err = "authentication.symmetricKey must be an object.";
                goto out;
            }
            for (int i = 0; i < 2; i++) {
                v = cJSON_GetObjectItemCaseSensitive(sym, names[i]);
                if (!v || cJSON_IsNull(v))
                    continue;
                if (!cJSON_IsString(v) || strlen(v->valuestring) >= REG_KEY_MAX) {
                    err = "symmetric keys must be base64 strings of 16-64 bytes.";
                    goto out;
                }
                /* "" asks for a generated key, as Azure does. */
                snprintf(dst[i], REG_KEY_MAX, "%s", v->valuestring);
            }
        }
    }
out:
    cJSON_Delete(j);
    return err;
}

static enum MHD_Result do_device(struct rest *r, struct MHD_Connection *c, const char *method,
                                 const char *dev, const char *mod, struct reqbody *q)
{
    const char *if_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-Match");
    bool module = mod && *mod;
    enum MHD_Result ret;
    reg_device d, out;
    reg_rc rc;
    char etag[48];

    if (tpmiot_device_id_check(dev) || (module && tpmiot_device_id_check(mod)))
        return send_error(c, 400, "ArgumentInvalid",
                          "Ids are 1-128 of A-Z a-z 0-9 - . % _ * ? ! ( ) , : = @ $ '.");
    if (!strcmp(method, "GET")) {
        if (!authorize(r, c, REG_RIGHT_REGISTRY_READ, &ret))
            return ret;
        if ((rc = registry_device_get(r->reg, dev, mod, &d)))
            return registry_error(c, rc, module);
        registry_etag(&d, etag, sizeof etag);
        ret = send_json(c, 200, device_json(&d), etag);
        tpmiot_wipe(&d, sizeof d);
        return ret;
    }
    if (!strcmp(method, "DELETE")) {
        if (!authorize(r, c, REG_RIGHT_REGISTRY_WRITE, &ret))
            return ret;
        if ((rc = registry_device_delete(r->reg, dev, mod, if_match)))
            return registry_error(c, rc, module);
        return send_json(c, 204, NULL, NULL);
    }
    if (!strcmp(method, "PUT")) {
        const char *err;
        bool created = false;
        if (!authorize(r, c, REG_RIGHT_REGISTRY_WRITE, &ret))
            return ret;
        if (q->too_big)
            return send_error(c, 413, "MessageTooLarge", "The body is over 64 KiB.");
        rc = registry_device_get(r->reg, dev, mod, &d);
        if (rc == REG_NOT_FOUND) {
            memset(&d, 0, sizeof d);
            snprintf(d.device_id, sizeof d.device_id, "%s", dev);
            snprintf(d.module_id, sizeof d.module_id, "%s", module ? mod : "");
            d.enabled = true;
        } else if (rc) {
            return registry_error(c, rc, module);
        } else if (!if_match) {
            /* Azure's rule: replacing needs If-Match, so two creators cannot
             * silently overwrite each other's keys. */
            tpmiot_wipe(&d, sizeof d);
            return registry_error(c, REG_EXISTS, module);
        }
        if (module) {
            reg_device parent;
            rc = registry_device_get(r->reg, dev, NULL, &parent);
            tpmiot_wipe(&parent, sizeof parent);
            if (rc)
                return registry_error(c, rc, false);
        }
        if ((err = parse_device_body(q->body ? q->body : "", q->len, &d))) {
            tpmiot_wipe(&d, sizeof d);
            return send_error(c, 400, "ArgumentInvalid", err);
        }
        rc = registry_device_put(r->reg, &d, if_match, &out, &created);
        tpmiot_wipe(&d, sizeof d);
        if (rc)
            return registry_error(c, rc, module);
        registry_etag(&out, etag, sizeof etag);
        ret = send_json(c, 200, device_json(&out), etag);
        tpmiot_wipe(&out, sizeof out);
        return ret;
    }
    return send_error(c, 405, "MethodNotAllowed", "Use GET, PUT or DELETE.");
}

/* HTTP header -> property: iothub-app-NAME -> NAME; a few system properties. */
struct props_ctx {
    tpmiot_prop p[64];
    size_t n;
    bool bad;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct props_ctx *x = cls;
    static const struct {
        const char *header, *prop;
    } sys[] = {{"iothub-messageid", "$.mid"}, {"iothub-correlationid", "$.cid"},
               {"iothub-userid", "$.uid"},    {"iothub-expiry", "$.exp"},
               {"content-type", "$.ct"},      {"content-encoding", "$.ce"}};
    (void)kind;
    if (x->n >= 60) {
        x->bad = true;
        return MHD_YES;
    }
    if (!strncasecmp(key, "iothub-app-", 11) && key[11]) {
        x->p[x->n].key = key + 11;
        x->p[x->n++].value = value ? value : "";
        return MHD_YES;
    }
    for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
        if (!strcasecmp(key, sys[i].header) && value && *value) {
            x->p[x->n].key = sys[i].prop;
            x->p[x->n++].value = value ? value : "";
        }
    return MHD_YES;
}

static enum MHD_Result do_c2d(struct rest *r, struct MHD_Connection *c, const char *dev,
                              struct reqbody *q)
{
    struct props_ctx x = {.n = 0};
    char topic[4096], bag[3500], mid[48], to[200], why[200];
    size_t n = sizeof bag;
    reg_device d;
    reg_policy svc;
    enum MHD_Result ret;
    reg_rc rc;
    bool have_mid = false;

    if (!authorize(r, c, REG_RIGHT_SERVICE_CONNECT, &ret))
        return ret;
    if (tpmiot_device_id_check(dev))
        return send_error(c, 400, "ArgumentInvalid", "Invalid device id.");
    if (q->too_big || q->len > C2D_MAX)
        return send_error(c, 413, "MessageTooLarge",
                          "A cloud-to-device message is at most 64 KiB.");
    rc = registry_device_get(r->reg, dev, NULL, &d);
    tpmiot_wipe(&d, sizeof d);
    if (rc)
        return registry_error(c, rc, false);
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &x);
    if (x.bad)
        return send_error(c, 400, "ArgumentInvalid", "Too many properties.");
    for (size_t i = 0; i < x.n; i++)
        have_mid |= !strcmp(x.p[i].key, "$.mid");
    if (!have_mid) {
        uint8_t b[16];
        FILE *f = fopen("/dev/urandom", "rb");
        if (!f || fread(b, 1, sizeof b, f) != sizeof b) {
            if (f)
                fclose(f);
            return send_error(c, 500, "ServerError", "No randomness.");
        }
        fclose(f);
        snprintf(mid, sizeof mid,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                 b[15]);
        x.p[x.n].key = "$.mid";
        x.p[x.n++].value = mid;
    }
    snprintf(to, sizeof to, "/devices/%s/messages/deviceBound", dev);
    x.p[x.n].key = "$.to";
    x.p[x.n++].value = to;
    if (tpmiot_propbag_encode(x.p, x.n, bag, &n))
        return send_error(c, 400, "ArgumentInvalid", "Properties too long.");
    if ((size_t)snprintf(topic, sizeof topic, "devices/%s/messages/devicebound/%s", dev, bag) >=
        sizeof topic)
        return send_error(c, 400, "ArgumentInvalid", "Properties too long.");
    if ((rc = registry_policy_get(r->reg, "service", &svc)))
        return send_error(c, 500, "ServerError", "The hub has no service policy.");
    int prc = hub_service_publish("127.0.0.1", r->mqtt_port, r->ca_file, r->hostname, &svc, topic,
                                  q->body, q->len, why, sizeof why);
    tpmiot_wipe(&svc, sizeof svc);
    if (prc) {
        fprintf(stderr, "tpmiot-hub: cloud-to-device for %s failed: %s\n", dev, why);
        return send_error(c, 503, "ServiceUnavailable", why);
    }
    return send_json(c, 204, NULL, NULL);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    struct rest *r = cls;
    struct reqbody *q = *con_cls;
    char path[1024], *parts[6];
    int n = 0;

    (void)version;
    if (!q) {
        if (!(q = calloc(1, sizeof *q)))
            return MHD_NO;
        *con_cls = q;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!reqbody_add(q, upload, *upload_size, BODY_MAX))
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (strlen(url) >= sizeof path)
        return send_error(c, 414, "ArgumentInvalid", "The path is too long.");
    snprintf(path, sizeof path, "%s", url);
    for (char *p = strtok(path, "/"); p && n < 6; p = strtok(NULL, "/"))
        parts[n++] = p;
    if (n >= 1 && strcmp(parts[0], "devices"))
        return send_error(c, 404, "NotFound", "No such resource.");
    if (n == 1 && !strcmp(method, "GET")) {
        enum MHD_Result ret;
        const char *top = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "top");
        long max = top ? strtol(top, NULL, 10) : 0;
        struct list_ctx lc = {cJSON_CreateArray()};
        if (!authorize(r, c, REG_RIGHT_REGISTRY_READ, &ret)) {
            cJSON_Delete(lc.arr);
            return ret;
        }
        if (max < 0 || max > 10000)
            max = 1000;
        if (registry_device_list(r->reg, (unsigned)max, add_to_list, &lc)) {
            cJSON_Delete(lc.arr);
            return send_error(c, 500, "ServerError", "The registry failed.");
        }
        return send_json(c, 200, lc.arr, NULL);
    }
    if (n == 2)
        return do_device(r, c, method, parts[1], NULL, q);
    if (n == 4 && !strcmp(parts[2], "modules"))
        return do_device(r, c, method, parts[1], parts[3], q);
    if (n == 4 && !strcmp(parts[2], "messages") && !strcmp(parts[3], "devicebound")) {
        if (strcmp(method, "POST"))
            return send_error(c, 405, "MethodNotAllowed", "Use POST.");
        return do_c2d(r, c, parts[1], q);
    }
    return send_error(c, 404, "NotFound", "No such resource.");
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
                 enum MHD_RequestTerminationCode toe)
{
    struct reqbody *q = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    reqbody_free(q); /* wiped: device PUTs carry keys */
    *con_cls = NULL;
}

int rest_start(struct rest **out, const struct rest_config *c, char *why, size_t why_len)
{
    struct rest *r = calloc(1, sizeof *r);
    char path[600], db[600];
    struct sockaddr_storage ss;
    size_t n;

    *out = NULL;
    if (!r)
        return -1;
    snprintf(r->hostname, sizeof r->hostname, "%s", c->hostname);
    r->cfg.hostname = r->hostname;
    r->cfg.skew = 300;
    r->cfg.max_ttl = 366 * 86400ULL;
    r->mqtt_port = c->mqtt_port;
    snprintf(r->ca_file, sizeof r->ca_file, "%s/ca.crt", c->dir);
    snprintf(db, sizeof db, "%s/registry.db", c->dir);
    snprintf(path, sizeof path, "%s/server.crt", c->dir);
    r->cert = hub_read_file(path, 65536, &n);
    snprintf(path, sizeof path, "%s/server.key", c->dir);
    r->key = hub_read_file(path, 65536, &n);
    if (!r->cert || !r->key || registry_open(&r->reg, db, false)) {
        snprintf(why, why_len, "cannot read the hub's certificate, key or registry in %s", c->dir);
        rest_stop(&r);
        return -1;
    }
    memset(&ss, 0, sizeof ss);
    if (strchr(c->bind, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)c->port);
        inet_pton(AF_INET6, c->bind, &a->sin6_addr);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)c->port);
        inet_pton(AF_INET, c->bind, &a->sin_addr);
    }
    r->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS |
                                (strchr(c->bind, ':') ? MHD_USE_IPv6 : 0),
                            (uint16_t)c->port, NULL, NULL, handler, r, MHD_OPTION_SOCK_ADDR, &ss,
                            MHD_OPTION_HTTPS_MEM_KEY, r->key, MHD_OPTION_HTTPS_MEM_CERT, r->cert,
                            MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                            30u, MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_END);
    if (!r->d) {
        snprintf(why, why_len, "cannot serve HTTPS on %s:%u", c->bind, c->port);
        rest_stop(&r);
        return -1;
    }
    *out = r;
    return 0;
}

void rest_stop(struct rest **r)
{
    if (!r || !*r)
        return;
    if ((*r)->d)
        MHD_stop_daemon((*r)->d);
    registry_close(&(*r)->reg);
    if ((*r)->key) {
        tpmiot_wipe((*r)->key, strlen((*r)->key));
        free((*r)->key);
    }
    free((*r)->cert);
    free(*r);
    *r = NULL;
}
