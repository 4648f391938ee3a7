/* The hub's authentication and topic rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <tpmiot/tpmiot.h>

#include "auth.h"

const char *auth_result_str(auth_result r)
{
    switch (r) {
    case AUTH_OK: return "ok";
    case AUTH_BAD_USERNAME: return "malformed username";
    case AUTH_WRONG_HOST: return "username or token is for another hub";
    case AUTH_BAD_CLIENT_ID: return "client id does not match the identity";
    case AUTH_NO_PASSWORD: return "no password (a SAS token is required)";
    case AUTH_BAD_TOKEN: return "password is not a valid SAS token";
    case AUTH_WRONG_RESOURCE: return "token's resource is not this identity";
    case AUTH_UNKNOWN_DEVICE: return "unknown device";
    case AUTH_DISABLED: return "device is disabled";
    case AUTH_SIGNATURE: return "signature does not match the current keys";
    case AUTH_EXPIRED: return "token expired";
    case AUTH_TOO_LONG: return "token expiry too far in the future";
    case AUTH_POLICY_AS_DEVICE: return "a policy token cannot connect as a device";
    case AUTH_DEVICE_AS_SERVICE: return "a device token cannot connect as a service";
    case AUTH_UNKNOWN_POLICY: return "unknown shared access policy";
    case AUTH_NO_RIGHT: return "policy lacks the permission";
    case AUTH_DB: return "registry unavailable";
    }
    return "unknown";
}

/* Hostnames compare case-insensitively, as DNS names do. */
static bool host_eq(const char *a, size_t alen, const char *b)
{
    return alen == strlen(b) && !strncasecmp(a, b, alen);
}

/* Signed with key (base64)? Checks signature then expiry window. */
static auth_result check_sig(const tpmiot_sas_parts *p, const char *token, const char *key_b64,
                             const auth_config *c, uint64_t now)
{
    uint8_t key[80];
    size_t n = sizeof key;
    tpmiot_signer *s = NULL;
    tpmiot_identity id = {c->hostname, NULL, NULL};
    tpmiot_rc rc;

    (void)p;
    if (!key_b64[0] || tpmiot_base64_decode(key_b64, strlen(key_b64), key, &n))
        return AUTH_SIGNATURE;
    rc = tpmiot_signer_from_key(&s, &id, key, n);
    tpmiot_wipe(key, sizeof key);
    if (rc)
        return AUTH_SIGNATURE;
    /* Verify against now - skew: a token that expired less than `skew` ago
     * still passes, for devices whose clocks run a little behind. */
    rc = tpmiot_sas_verify(s, token, now > c->skew ? now - c->skew : 0);
    tpmiot_signer_free(&s);
    if (rc == TPMIOT_E_TOKEN_EXPIRED)
        return AUTH_EXPIRED;
    return rc ? AUTH_SIGNATURE : AUTH_OK;
}

static auth_result check_both(const tpmiot_sas_parts *p, const char *token, const char *k1,
                              const char *k2, const auth_config *c, uint64_t now)
{
    auth_result a = check_sig(p, token, k1, c, now);

    if (a == AUTH_SIGNATURE)
        a = check_sig(p, token, k2, c, now);
    if (a == AUTH_OK && c->max_ttl && p->se > now + c->max_ttl + c->skew)
        a = AUTH_TOO_LONG;
    return a;
}

/* The resource a token names, decoded; the form on the wire stays what is signed. */
static bool decode_sr(const tpmiot_sas_parts *p, char *out, size_t len)
{
    size_t n = len;
    return tpmiot_url_decode(p->sr, strlen(p->sr), out, &n) == TPMIOT_OK;
}

static auth_result parse_token(const char *password, tpmiot_sas_parts *p)
{
    if (!password || !*password)
        return AUTH_NO_PASSWORD;
    if (strlen(password) > 2048 || tpmiot_sas_parse(password, p))
        return AUTH_BAD_TOKEN;
    return AUTH_OK;
}

auth_result auth_service_token(hub_registry *r, const auth_config *c, const char *token,
                               uint64_t now, unsigned right, auth_identity *id)
{
    tpmiot_sas_parts p;
    reg_policy pol;
    char sr[1024];
    auth_result a;
    reg_rc rc;

    memset(id, 0, sizeof *id);
    if ((a = parse_token(token, &p)))
        return a;
    if (!decode_sr(&p, sr, sizeof sr))
        return AUTH_BAD_TOKEN;
    if (!p.skn[0])
        return strchr(sr, '/') ? AUTH_DEVICE_AS_SERVICE : AUTH_UNKNOWN_POLICY;
    if (!host_eq(sr, strlen(sr), c->hostname))
        return strncasecmp(sr, c->hostname, strlen(c->hostname)) ? AUTH_WRONG_HOST
                                                                 : AUTH_WRONG_RESOURCE;
    rc = registry_policy_get(r, p.skn, &pol);
    if (rc == REG_NOT_FOUND)
        return AUTH_UNKNOWN_POLICY;
    if (rc)
        return AUTH_DB;
    a = check_both(&p, token, pol.primary_key, pol.secondary_key, c, now);
    if (!a && right && !(pol.rights & right))
        a = AUTH_NO_RIGHT;
    if (!a) {
        id->kind = IDENT_SERVICE;
        snprintf(id->policy, sizeof id->policy, "%s", pol.name);
        id->rights = pol.rights;
    }
    tpmiot_wipe(&pol, sizeof pol);
    return a;
}

/* "{host}/{device}[/{module}]/?{query}" (the query may be empty or absent). */
static auth_result parse_device_username(const char *u, const char *host, char *dev, char *mod)
{
    const char *p = strchr(u, '/'), *q;
    size_t n;

    if (!p)
        return AUTH_BAD_USERNAME;
    if (!host_eq(u, (size_t)(p - u), host))
        return AUTH_WRONG_HOST;
    p++;
    q = strpbrk(p, "/?");
    n = q ? (size_t)(q - p) : strlen(p);
    if (n == 0 || n > 128)
        return AUTH_BAD_USERNAME;
    memcpy(dev, p, n);
    dev[n] = '\0';
    mod[0] = '\0';
    if (q && *q == '/' && q[1] && q[1] != '?') {
        p = q + 1;
        q = strpbrk(p, "/?");
        n = q ? (size_t)(q - p) : strlen(p);
        if (n == 0 || n > 128)
            return AUTH_BAD_USERNAME;
        memcpy(mod, p, n);
        mod[n] = '\0';
    }
    /* What follows is "/", "/?query" or "?query": Azure's api-version and
     * DeviceClientType fields, which we accept and do not need. */
    if (q && *q == '/')
        q++;
    if (q && *q && *q != '?')
        return AUTH_BAD_USERNAME;
    if (tpmiot_device_id_check(dev) || (mod[0] && tpmiot_device_id_check(mod)))
        return AUTH_BAD_USERNAME;
    return AUTH_OK;
}

#define SERVICE_USER_PREFIX "service@"
#define SERVICE_CLIENT_PREFIX "svc#"

auth_result auth_mqtt(hub_registry *r, const auth_config *c, const char *client_id,
                      const char *username, const char *password, uint64_t now, auth_identity *id)
{
    char dev[129], mod[129], want_sr[512], sr[1024], want_client[260];
    tpmiot_sas_parts p;
    reg_device d;
    auth_result a;
    reg_rc rc;

    memset(id, 0, sizeof *id);
    if (!username || !*username || strlen(username) > 1024)
        return AUTH_BAD_USERNAME;
    if (!client_id || !*client_id || strlen(client_id) > 260)
        return AUTH_BAD_CLIENT_ID;

    if (!strncmp(username, SERVICE_USER_PREFIX, strlen(SERVICE_USER_PREFIX))) {
        const char *h = username + strlen(SERVICE_USER_PREFIX);
        if (!host_eq(h, strlen(h), c->hostname))
            return AUTH_WRONG_HOST;
        /* Service client ids carry '#', which no device id may, so a service
         * can never take over a device's session. */
        if (strncmp(client_id, SERVICE_CLIENT_PREFIX, strlen(SERVICE_CLIENT_PREFIX)) ||
            strlen(client_id) > 68)
            return AUTH_BAD_CLIENT_ID;
        return auth_service_token(r, c, password, now, REG_RIGHT_SERVICE_CONNECT, id);
    }

    if ((a = parse_device_username(username, c->hostname, dev, mod)))
        return a;
    snprintf(want_client, sizeof want_client, "%s%s%s", dev, mod[0] ? "/" : "", mod);
    if (strcmp(client_id, want_client))
        return AUTH_BAD_CLIENT_ID;
    if ((a = parse_token(password, &p)))
        return a;
    if (p.skn[0])
        return AUTH_POLICY_AS_DEVICE;
    if (!decode_sr(&p, sr, sizeof sr))
        return AUTH_BAD_TOKEN;
    if (mod[0])
        snprintf(want_sr, sizeof want_sr, "%s/devices/%s/modules/%s", c->hostname, dev, mod);
    else
        snprintf(want_sr, sizeof want_sr, "%s/devices/%s", c->hostname, dev);
    if (strcasecmp(sr, want_sr)) {
        const char *slash = strchr(sr, '/');
        if (slash && !host_eq(sr, (size_t)(slash - sr), c->hostname))
            return AUTH_WRONG_HOST;
        return AUTH_WRONG_RESOURCE;
    }
    /* The host part is case-insensitive; the ids are not. */
    if (strcmp(strchr(sr, '/'), strchr(want_sr, '/')))
        return AUTH_WRONG_RESOURCE;
    rc = registry_device_get(r, dev, mod, &d);
    if (rc == REG_NOT_FOUND)
        return AUTH_UNKNOWN_DEVICE;
    if (rc)
        return AUTH_DB;
    if (!d.enabled) {
        a = AUTH_DISABLED;
        goto out;
    }
    /* A module's own record carries its status; its device must be enabled too. */
    if (mod[0]) {
        reg_device parent;
        rc = registry_device_get(r, dev, NULL, &parent);
        if (rc || !parent.enabled) {
            a = rc == REG_NOT_FOUND ? AUTH_UNKNOWN_DEVICE : rc ? AUTH_DB : AUTH_DISABLED;
            tpmiot_wipe(&parent, sizeof parent);
            goto out;
        }
        tpmiot_wipe(&parent, sizeof parent);
    }
    a = check_both(&p, password, d.primary_key, d.secondary_key, c, now);
    if (!a) {
        id->kind = mod[0] ? IDENT_MODULE : IDENT_DEVICE;
        memcpy(id->device_id, dev, sizeof id->device_id);
        memcpy(id->module_id, mod, sizeof id->module_id);
    }
out:
    tpmiot_wipe(&d, sizeof d);
    return a;
}

void auth_session_name(const auth_identity *id, char *out, size_t len)
{
    switch (id->kind) {
    case IDENT_DEVICE: snprintf(out, len, "d:%s", id->device_id); break;
    case IDENT_MODULE: snprintf(out, len, "m:%s/%s", id->device_id, id->module_id); break;
    case IDENT_SERVICE: snprintf(out, len, "s:%s", id->policy); break;
    default: snprintf(out, len, "-"); break;
    }
}

/* "devices/{id}/messages/{tail}" with id free of wildcards: id and tail. */
static bool split_devices_topic(const char *t, char *id, size_t idlen, const char **tail)
{
    const char *p, *q;
    size_t n;

    if (strncmp(t, "devices/", 8))
        return false;
    p = t + 8;
    q = strchr(p, '/');
    if (!q)
        return false;
    n = (size_t)(q - p);
    if (n == 0 || n >= idlen)
        return false;
    memcpy(id, p, n);
    id[n] = '\0';
    if (strncmp(q, "/messages/", 10))
        return false;
    *tail = q + 10;
    return true;
}

static bool has_wildcard(const char *s)
{
    return strpbrk(s, "+#") != NULL;
}

/* tail is "events/..." (prefix "events/" or exactly "events/#")? */
static bool tail_is(const char *tail, const char *kind)
{
    size_t n = strlen(kind);
    return !strncmp(tail, kind, n) && tail[n] == '/';
}

bool auth_acl(const char *session, int what, const char *topic)
{
    char id[130], own[400];
    const char *tail;
    size_t n;

    if (!session || !topic || strlen(topic) > 4096)
        return false;
    /* $iothub/... (twin, methods) comes with a later issue: refused for now. */
    if (session[0] == 'd' || session[0] == 'm') {
        const char *me = session + 2, *slash = strchr(me, '/');
        /* Its own prefix, spelled out: a '+' in place of the id would reach
         * every device, so the topic must start with exactly this. */
        if (session[0] == 'm' && slash)
            n = (size_t)snprintf(own, sizeof own, "devices/%.*s/modules/%s/messages/",
                                 (int)(slash - me), me, slash + 1);
        else
            n = (size_t)snprintf(own, sizeof own, "devices/%s/messages/", me);
        if (n >= sizeof own || strncmp(topic, own, n))
            return false;
        tail = topic + n;
        switch (what) {
        case ACL_PUBLISH: return tail_is(tail, "events") && !has_wildcard(tail);
        case ACL_SUBSCRIBE: return tail_is(tail, "devicebound");
        case ACL_RECEIVE: return tail_is(tail, "devicebound");
        default: return false;
        }
    }
    if (session[0] == 's') {
        bool any_device;
        if (!split_devices_topic(topic, id, sizeof id, &tail))
            return false;
        any_device = !strcmp(id, "+");
        if (!any_device && has_wildcard(id))
            return false;
        switch (what) {
        case ACL_SUBSCRIBE: return tail_is(tail, "events");
        case ACL_RECEIVE: return tail_is(tail, "events");
        case ACL_PUBLISH: return !any_device && tail_is(tail, "devicebound") && !has_wildcard(tail);
        default: return false;
        }
    }
    return false;
}
