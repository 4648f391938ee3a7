/*
 * tpmiot_auth.so: the Mosquitto plugin (API v5). A thin adapter: CONNECT and
 * topic decisions are auth.c's, device records registry.c's. Here: turning
 * broker events into those calls, one log line per refusal, and dropping
 * live sessions whose device was disabled, deleted or given new keys.
 *
 * Options (plugin_opt_*): registry (path), hostname, skew (s, default 300),
 * max_ttl (s, default 31622400 = 366 days).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "auth.h"
#include "registry.h"

#define CHECK_INTERVAL_NS 200000000L /* look for registry changes 5 times a second */
#define TOUCH_INTERVAL 10            /* write lastActivityTime at most every 10 s */

struct session {
    struct mosquitto *client;
    char name[280]; /* auth_session_name */
    auth_identity id;
    time_t touched;
};

struct plugin {
    mosquitto_plugin_id_t *pid;
    hub_registry *reg;
    char hostname[256];
    auth_config cfg;
    int64_t seq;
    struct session *s;
    size_t n, cap;
    struct timespec next_check;
};

static struct plugin P;

/* Client ids and usernames are attacker-chosen: log them printable and short. */
static void printable(const char *in, char *out, size_t len)
{
    size_t o = 0;

    for (; in && *in && o + 5 < len; in++) {
        unsigned char c = (unsigned char)*in;
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
    }
    out[o] = '\0';
}

static struct session *find(struct mosquitto *client)
{
    for (size_t i = 0; i < P.n; i++)
        if (P.s[i].client == client)
            return &P.s[i];
    return NULL;
}

static void forget(struct mosquitto *client)
{
    struct session *s = find(client);
    bool other = false;

    if (!s)
        return;
    /* A session taken over by a new connection of the same device ends after
     * the new one began: the device is still connected then. */
    for (size_t i = 0; i < P.n; i++)
        other |= &P.s[i] != s && !strcmp(P.s[i].name, s->name);
    if (s->id.kind != IDENT_SERVICE && !other)
        registry_set_connected(P.reg, s->id.device_id, s->id.module_id, false, time(NULL));
    *s = P.s[--P.n];
}

static int on_basic_auth(int event, void *data, void *userdata)
{
    struct mosquitto_evt_basic_auth *ed = data;
    const char *cid = mosquitto_client_id(ed->client);
    char who[200], user[200];
    auth_identity id;
    auth_result r;

    (void)event;
    (void)userdata;
    r = auth_mqtt(P.reg, &P.cfg, cid, ed->username, ed->password, (uint64_t)time(NULL), &id);
    if (r != AUTH_OK) {
        printable(cid, who, sizeof who);
        printable(ed->username, user, sizeof user);
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "tpmiot: refused client '%s' user '%s' from %s: %s",
                             who, user, mosquitto_client_address(ed->client), auth_result_str(r));
        return MOSQ_ERR_AUTH;
    }
    if (P.n == P.cap) {
        size_t cap = P.cap ? P.cap * 2 : 64;
        struct session *ns = realloc(P.s, cap * sizeof *ns);
        if (!ns)
            return MOSQ_ERR_NOMEM;
        P.s = ns;
        P.cap = cap;
    }
    forget(ed->client); /* a client object re-authenticating */
    struct session *s = &P.s[P.n++];
    memset(s, 0, sizeof *s);
    s->client = ed->client;
    s->id = id;
    s->touched = time(NULL);
    auth_session_name(&id, s->name, sizeof s->name);
    /* The ACL check reads the identity back from the username. */
    if (mosquitto_set_username(ed->client, s->name) != MOSQ_ERR_SUCCESS) {
        P.n--;
        return MOSQ_ERR_AUTH;
    }
    if (id.kind != IDENT_SERVICE)
        registry_set_connected(P.reg, id.device_id, id.module_id, true, s->touched);
    mosquitto_log_printf(MOSQ_LOG_INFO, "tpmiot: '%s' connected as %s", cid, s->name);
    return MOSQ_ERR_SUCCESS;
}

static int on_acl_check(int event, void *data, void *userdata)
{
    struct mosquitto_evt_acl_check *ed = data;
    const char *user = mosquitto_client_username(ed->client);
    int what;

    (void)event;
    (void)userdata;
    switch (ed->access) {
    case MOSQ_ACL_SUBSCRIBE: what = ACL_SUBSCRIBE; break;
    case MOSQ_ACL_WRITE: what = ACL_PUBLISH; break;
    case MOSQ_ACL_READ: what = ACL_RECEIVE; break;
    case MOSQ_ACL_UNSUBSCRIBE: return MOSQ_ERR_SUCCESS;
    default: return MOSQ_ERR_ACL_DENIED;
    }
    /* The identity is the username basic-auth gave the session. It is read
     * from the client object, not from our list of live sessions: messages
     * are checked for delivery to offline persistent sessions too, including
     * sessions restored from the broker's database after a restart. */
    if (!auth_acl(user, what, ed->topic)) {
        char t[300];
        printable(ed->topic, t, sizeof t);
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "tpmiot: denied %s %s on '%s'", user ? user : "-",
                             what == ACL_SUBSCRIBE ? "subscribe"
                             : what == ACL_PUBLISH ? "publish"
                                                   : "receive",
                             t);
        return MOSQ_ERR_ACL_DENIED;
    }
    struct session *s = what == ACL_PUBLISH ? find(ed->client) : NULL;
    if (s) {
        time_t now = time(NULL);
        if (s->id.kind == IDENT_SERVICE) {
            /* A cloud-to-device message: count it on the device's record. */
            char dev[130];
            const char *p = ed->topic + strlen("devices/"), *q = strchr(p, '/');
            if (q && (size_t)(q - p) < sizeof dev) {
                memcpy(dev, p, (size_t)(q - p));
                dev[q - p] = '\0';
                registry_c2d_count_add(P.reg, dev, 1);
            }
        } else if (now - s->touched >= TOUCH_INTERVAL) {
            s->touched = now;
            registry_touch(P.reg, s->id.device_id, s->id.module_id, now);
        }
    }
    return MOSQ_ERR_SUCCESS;
}

static void kick_changed(const char *dev, const char *mod, void *arg)
{
    (void)arg;
    /* Kicking changes the list (through the disconnect event): collect first. */
    char names[64][280];
    size_t k = 0;
    for (size_t i = 0; i < P.n && k < 64; i++) {
        const auth_identity *id = &P.s[i].id;
        if (id->kind == IDENT_SERVICE || strcmp(id->device_id, dev))
            continue;
        /* A device change drops its modules too; a module change only it. */
        if (*mod && strcmp(id->module_id, mod))
            continue;
        snprintf(names[k++], sizeof names[0], "%s", P.s[i].name);
    }
    for (size_t i = 0; i < k; i++) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "tpmiot: disconnecting %s: registry changed",
                             names[i]);
        mosquitto_kick_client_by_username(names[i], false);
    }
}

static int on_tick(int event, void *data, void *userdata)
{
    struct mosquitto_evt_tick *ed = data;
    struct timespec now;

    (void)event;
    (void)userdata;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > P.next_check.tv_sec ||
        (now.tv_sec == P.next_check.tv_sec && now.tv_nsec >= P.next_check.tv_nsec)) {
        if (registry_changed(P.reg) || P.seq == 0)
            registry_changes_since(P.reg, &P.seq, kick_changed, NULL);
        P.next_check = now;
        P.next_check.tv_nsec += CHECK_INTERVAL_NS;
        if (P.next_check.tv_nsec >= 1000000000L) {
            P.next_check.tv_sec++;
            P.next_check.tv_nsec -= 1000000000L;
        }
    }
    /* Ask the broker to come back soon even when idle. */
    ed->next_s = 0;
    ed->next_ns = CHECK_INTERVAL_NS;
    return MOSQ_ERR_SUCCESS;
}

static int on_disconnect(int event, void *data, void *userdata)
{
    struct mosquitto_evt_disconnect *ed = data;

    (void)event;
    (void)userdata;
    forget(ed->client);
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++)
        if (supported_versions[i] == 5)
            return 5;
    return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                          struct mosquitto_opt *options, int option_count)
{
    const char *path = NULL;

    memset(&P, 0, sizeof P);
    P.pid = identifier;
    P.cfg.skew = 300;
    P.cfg.max_ttl = 366 * 86400ULL;
    for (int i = 0; i < option_count; i++) {
        if (!strcmp(options[i].key, "registry"))
            path = options[i].value;
        else if (!strcmp(options[i].key, "hostname"))
            snprintf(P.hostname, sizeof P.hostname, "%s", options[i].value);
        else if (!strcmp(options[i].key, "skew"))
            P.cfg.skew = (unsigned)strtoul(options[i].value, NULL, 10);
        else if (!strcmp(options[i].key, "max_ttl"))
            P.cfg.max_ttl = strtoull(options[i].value, NULL, 10);
    }
    if (!path || !P.hostname[0]) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "tpmiot: plugin_opt_registry and plugin_opt_hostname "
                                           "are required");
        return MOSQ_ERR_INVAL;
    }
    P.cfg.hostname = P.hostname;
    if (registry_open(&P.reg, path, false) != REG_OK) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "tpmiot: cannot open registry %s", path);
        return MOSQ_ERR_UNKNOWN;
    }
    /* Sessions restored from persistence (or left "connected" by a crash)
     * have no connection now. */
    registry_reset_connections(P.reg, time(NULL));
    *userdata = &P;
    if (mosquitto_callback_register(identifier, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL) ||
        mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL) ||
        mosquitto_callback_register(identifier, MOSQ_EVT_TICK, on_tick, NULL, NULL) ||
        mosquitto_callback_register(identifier, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, NULL))
        return MOSQ_ERR_UNKNOWN;
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "tpmiot: hub %s, registry %s", P.hostname, path);
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
    (void)userdata;
    (void)options;
    (void)option_count;
    mosquitto_callback_unregister(P.pid, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
    mosquitto_callback_unregister(P.pid, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
    mosquitto_callback_unregister(P.pid, MOSQ_EVT_TICK, on_tick, NULL);
    mosquitto_callback_unregister(P.pid, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
    for (size_t i = 0; i < P.n; i++)
        if (P.s[i].id.kind != IDENT_SERVICE)
            registry_set_connected(P.reg, P.s[i].id.device_id, P.s[i].id.module_id, false,
                                   time(NULL));
    free(P.s);
    registry_close(&P.reg);
    return MOSQ_ERR_SUCCESS;
}
