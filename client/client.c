/*
 * The device client. One thread per client runs the connection: connect with
 * a fresh token, subscribe, pump the queue with a window of QoS 1 messages,
 * reconnect before the token expires, back off with jitter after failures.
 * A new libmosquitto object per connection: the hub keeps the session
 * (cleanSession=false), our queue keeps the messages, and nothing is resent
 * twice by two layers.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

#include <mosquitto.h>
#include <openssl/rand.h>
#include <tpmiot/client.h>
#include <tpmiot/sas.h>

#include "queue.h"

#define WINDOW 20 /* QoS 1 messages in flight at once */
#define CONNACK_WAIT_MS 10000

struct tpmiot_client {
    tpmiot_signer *signer;
    tpmiot_client_options o;
    char ca[512], gateway[256], model[128];
    char client_id[260], username[700], topic_prefix[400], sub_topic[400];
    tpmiot_status_cb status_cb;
    void *status_arg;
    tpmiot_message_cb message_cb;
    void *message_arg;

    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* queue shrank, or the thread should wake */
    bool stop;

    /* Owned by the client's thread. */
    struct mosquitto *m;
    bool connected, renewing, was_connected, dead;
    int attempt;
    uint64_t connect_started_ms, renew_at_ms, next_attempt_ms;
    unsigned connects, refused;
    int inflight;
    struct queue q; /* under lock */
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void status(tpmiot_client *c, tpmiot_status s, const char *why, unsigned retry_ms)
{
    if (c->status_cb)
        c->status_cb(s, why, retry_ms, c->status_arg);
}

/* Exponential backoff with jitter: half to all of min(max, min * 2^attempt). */
static unsigned backoff(tpmiot_client *c)
{
    uint64_t d = c->o.backoff_min_ms;
    uint32_t r = 0;

    for (int i = 0; i < c->attempt && d < c->o.backoff_max_ms; i++)
        d *= 2;
    if (d > c->o.backoff_max_ms)
        d = c->o.backoff_max_ms;
    RAND_bytes((unsigned char *)&r, sizeof r);
    if (c->attempt < 30)
        c->attempt++;
    return (unsigned)(d / 2 + (d / 2) * (r % 1001) / 1000);
}

static void uuid(char out[37])
{
    uint8_t b[16];

    RAND_bytes(b, sizeof b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* ---- callbacks from libmosquitto, on the client's thread ---- */

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    tpmiot_client *c = arg;

    if (rc == 0) {
        c->connected = true;
        c->connects++;
        c->attempt = 0;
        c->renew_at_ms = c->connect_started_ms + (uint64_t)c->o.token_ttl * 800;
        /* Always subscribe: cheap, and right if the hub lost the session. */
        mosquitto_subscribe(m, NULL, c->sub_topic, 1);
        status(c, c->renewing ? TPMIOT_STATUS_TOKEN_RENEWED : TPMIOT_STATUS_CONNECTED,
               c->renewing ? "reconnected with a fresh token" : "connected", 0);
        c->renewing = false;
        return;
    }
    c->dead = true;
    if (rc == 4 || rc == 5) {
        c->refused++;
        unsigned d = backoff(c);
        c->next_attempt_ms = now_ms() + d;
        status(c, TPMIOT_STATUS_BAD_CREDENTIALS,
               "the hub refused the connection: wrong key, unknown or disabled device", d);
    } else {
        unsigned d = backoff(c);
        c->next_attempt_ms = now_ms() + d;
        status(c, TPMIOT_STATUS_RETRYING, mosquitto_connack_string(rc), d);
    }
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc)
{
    tpmiot_client *c = arg;

    (void)m;
    (void)rc;
    if (!c->dead) {
        c->dead = true;
        if (c->renewing) {
            c->next_attempt_ms = now_ms();
        } else if (!c->stop) {
            /* Closed before a CONNACK backs off too: a hub or a proxy that
             * hangs up at once must not get a connection per loop turn. */
            unsigned d = backoff(c);
            c->next_attempt_ms = now_ms() + d;
            status(c, TPMIOT_STATUS_RETRYING,
                   c->connected ? "connection lost" : "connection closed before the hub answered",
                   d);
        }
    }
    c->connected = false;
}

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
    tpmiot_client *c = arg;

    (void)m;
    pthread_mutex_lock(&c->lock);
    if (queue__ack_mid(&c->q, mid))
        c->inflight--;
    /* Only flush() waits on this, for an empty queue: waking it on every
     * acknowledgement cost a context switch per message. */
    if (c->q.count == 0)
        pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    tpmiot_client *c = arg;
    tpmiot_prop props[64], app[64];
    tpmiot_message out = {0};
    size_t n = 64, na = 0;
    char *bag;
    const char *p;

    (void)m;
    if (!c->message_cb || !(p = strstr(msg->topic, "/messages/devicebound/")))
        return;
    if (!(bag = strdup(p + strlen("/messages/devicebound/"))))
        return;
    if (tpmiot_propbag_decode(bag, props, &n))
        n = 0;
    for (size_t i = 0; i < n; i++) {
        const char *k = props[i].key;
        if (!strcmp(k, "$.mid"))
            out.message_id = props[i].value;
        else if (!strcmp(k, "$.cid"))
            out.correlation_id = props[i].value;
        else if (!strcmp(k, "$.ct"))
            out.content_type = props[i].value;
        else if (!strcmp(k, "$.ce"))
            out.content_encoding = props[i].value;
        else if (strncmp(k, "$.", 2) && strncmp(k, "iothub-", 7))
            app[na++] = props[i];
    }
    out.payload = msg->payload;
    out.len = (size_t)msg->payloadlen;
    out.props = app;
    out.nprops = na;
    c->message_cb(&out, c->message_arg);
    free(bag);
}

/* ---- the connection ---- */

static void drop_connection(tpmiot_client *c)
{
    if (!c->m)
        return;
    mosquitto_disconnect(c->m);
    mosquitto_destroy(c->m);
    c->m = NULL;
    c->connected = false;
    pthread_mutex_lock(&c->lock);
    queue__requeue_inflight(&c->q);
    c->inflight = 0;
    pthread_mutex_unlock(&c->lock);
}

static void try_connect(tpmiot_client *c)
{
    tpmiot_sas_options so = {.ttl = c->o.token_ttl};
    char *token = NULL;
    const char *host = c->gateway[0] ? c->gateway : tpmiot_signer_hostname(c->signer);
    tpmiot_rc rc;
    int mrc;

    c->dead = false;
    c->connect_started_ms = now_ms();
    /* The token is made per connection: one TPM2_HMAC, never stored. */
    if ((rc = tpmiot_sas_build(c->signer, &so, &token))) {
        unsigned d = backoff(c);
        c->next_attempt_ms = now_ms() + d;
        status(c, TPMIOT_STATUS_RETRYING, tpmiot_strerror(rc), d);
        return;
    }
    c->m = mosquitto_new(c->client_id, false, c);
    if (!c->m) {
        tpmiot_free(token);
        c->next_attempt_ms = now_ms() + backoff(c);
        return;
    }
    mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(c->m, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_callback_set(c->m, on_connect);
    mosquitto_disconnect_callback_set(c->m, on_disconnect);
    mosquitto_publish_callback_set(c->m, on_publish);
    mosquitto_message_callback_set(c->m, on_message);
    mosquitto_max_inflight_messages_set(c->m, WINDOW);
    mosquitto_username_pw_set(c->m, c->username, token);
    tpmiot_free(token);
    if (!c->o.no_tls &&
        mosquitto_tls_set(c->m, c->ca[0] ? c->ca : NULL, c->ca[0] ? NULL : "/etc/ssl/certs", NULL,
                          NULL, NULL) != MOSQ_ERR_SUCCESS) {
        drop_connection(c);
        unsigned d = backoff(c);
        c->next_attempt_ms = now_ms() + d;
        status(c, TPMIOT_STATUS_RETRYING, "cannot read the CA file", d);
        return;
    }
    /* Asynchronous, so that an unreachable hub costs the CONNACK wait
     * (10 s), not the kernel's TCP timeout, and destroy is never stuck. */
    mrc = mosquitto_connect_async(c->m, host, (int)c->o.port, (int)c->o.keepalive);
    if (mrc != MOSQ_ERR_SUCCESS) {
        drop_connection(c);
        unsigned d = backoff(c);
        c->next_attempt_ms = now_ms() + d;
        status(c, TPMIOT_STATUS_RETRYING,
               mrc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(mrc), d);
    }
}

static void pump(tpmiot_client *c)
{
    pthread_mutex_lock(&c->lock);
    while (c->connected && c->inflight < WINDOW) {
        struct qmsg *q = queue__next_unsent(&c->q);
        int mid = 0;
        if (!q)
            break;
        if (mosquitto_publish(c->m, &mid, q->topic, (int)q->len, q->payload, q->qos, false) !=
            MOSQ_ERR_SUCCESS)
            break;
        q->inflight = true;
        q->mid = mid;
        c->inflight++;
    }
    pthread_mutex_unlock(&c->lock);
}

static void *run(void *arg)
{
    tpmiot_client *c = arg;

    while (true) {
        pthread_mutex_lock(&c->lock);
        bool stop = c->stop;
        pthread_mutex_unlock(&c->lock);
        if (stop)
            break;
        uint64_t t = now_ms();
        if (!c->m && t >= c->next_attempt_ms)
            try_connect(c);
        if (c->m) {
            int rc = mosquitto_loop(c->m, 20, 1);
            if (c->connected)
                pump(c);
            if (rc != MOSQ_ERR_SUCCESS && !c->dead) {
                /* Lost without a disconnect callback (reset, TLS error). */
                on_disconnect(c->m, c, rc);
            }
            if (!c->connected && !c->dead) {
                /* libmosquitto 2.0 keeps retrying its TLS handshake on a socket
                 * whose asynchronous connect was refused (EPIPE, forever), and
                 * the error is gone from SO_ERROR by then: ask TCP itself. */
                int fd = mosquitto_socket(c->m);
                struct tcp_info ti;
                socklen_t len = sizeof ti;
                if (fd >= 0 && !getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) &&
                    ti.tcpi_state == TCP_CLOSE) {
                    unsigned d = backoff(c);
                    c->dead = true;
                    c->next_attempt_ms = now_ms() + d;
                    status(c, TPMIOT_STATUS_RETRYING, "connection refused", d);
                }
            }
            if (!c->connected && !c->dead && now_ms() - c->connect_started_ms > CONNACK_WAIT_MS) {
                unsigned d = backoff(c);
                c->dead = true;
                c->next_attempt_ms = now_ms() + d;
                status(c, TPMIOT_STATUS_RETRYING, "no answer from the hub", d);
            }
            if (c->connected && now_ms() >= c->renew_at_ms) {
                /* Renew before the token expires: reconnect now, with a new one. */
                c->renewing = true;
                c->dead = true;
                c->next_attempt_ms = now_ms();
            }
            if (c->dead)
                drop_connection(c);
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_mutex_lock(&c->lock);
            if (!c->stop)
                pthread_cond_timedwait(&c->changed, &c->lock, &ts);
            pthread_mutex_unlock(&c->lock);
        }
    }
    drop_connection(c);
    status(c, TPMIOT_STATUS_STOPPED, "stopped", 0);
    return NULL;
}

/* ---- construction ---- */

static tpmiot_rc setup(tpmiot_client *c, const tpmiot_client_options *o)
{
    const char *dev = tpmiot_signer_device_id(c->signer), *mod = tpmiot_signer_module_id(c->signer),
               *host = tpmiot_signer_hostname(c->signer);
    tpmiot_rc rc;

    if (o)
        c->o = *o;
    if (!c->o.port)
        c->o.port = 8883;
    if (!c->o.keepalive)
        c->o.keepalive = 60;
    if (!c->o.token_ttl)
        c->o.token_ttl = 3600;
    if (c->o.token_ttl < 5)
        return TPMIOT_E_INVALID_ARG;
    if (!c->o.backoff_min_ms)
        c->o.backoff_min_ms = 1000;
    if (!c->o.backoff_max_ms)
        c->o.backoff_max_ms = 60000;
    if (c->o.ca_file)
        snprintf(c->ca, sizeof c->ca, "%s", c->o.ca_file);
    if (c->o.gateway_host) {
        if (tpmiot_hostname_check(c->o.gateway_host))
            return TPMIOT_E_BAD_HOSTNAME;
        snprintf(c->gateway, sizeof c->gateway, "%s", c->o.gateway_host);
    }
    if (c->o.model_id)
        snprintf(c->model, sizeof c->model, "%s", c->o.model_id);
    c->o.ca_file = NULL;
    c->o.model_id = NULL;
    if (*mod) {
        snprintf(c->client_id, sizeof c->client_id, "%s/%s", dev, mod);
        snprintf(c->username, sizeof c->username, "%s/%s/%s/?api-version=2021-04-12", host, dev,
                 mod);
        snprintf(c->topic_prefix, sizeof c->topic_prefix, "devices/%s/modules/%s/messages/events/",
                 dev, mod);
        snprintf(c->sub_topic, sizeof c->sub_topic, "devices/%s/modules/%s/messages/devicebound/#",
                 dev, mod);
    } else {
        snprintf(c->client_id, sizeof c->client_id, "%s", dev);
        snprintf(c->username, sizeof c->username, "%s/%s/?api-version=2021-04-12", host, dev);
        snprintf(c->topic_prefix, sizeof c->topic_prefix, "devices/%s/messages/events/", dev);
        snprintf(c->sub_topic, sizeof c->sub_topic, "devices/%s/messages/devicebound/#", dev);
    }
    if (c->model[0]) {
        char enc[400];
        size_t n = sizeof enc;
        if (tpmiot_url_encode(c->model, strlen(c->model), enc, &n))
            return TPMIOT_E_INVALID_ARG;
        strncat(c->username, "&model-id=", sizeof c->username - strlen(c->username) - 1);
        strncat(c->username, enc, sizeof c->username - strlen(c->username) - 1);
    }
    c->o.gateway_host = NULL;
    rc = queue__open(&c->q, c->o.queue_dir, c->o.queue_max_bytes, !c->o.queue_no_sync);
    c->o.queue_dir = NULL;
    if (rc)
        return rc;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->changed, NULL);
    mosquitto_lib_init();
    return TPMIOT_OK;
}

tpmiot_rc tpmiot_client_from_slot(tpmiot_client **out, tpmiot_tpm *t, unsigned slot,
                                  const tpmiot_client_options *o)
{
    tpmiot_client *c;
    tpmiot_rc rc;

    if (!out || !t)
        return TPMIOT_E_INVALID_ARG;
    *out = NULL;
    if (!(c = calloc(1, sizeof *c)))
        return TPMIOT_E_NOMEM;
    if ((rc = tpmiot_signer_from_slot(&c->signer, t, slot)) || (rc = setup(c, o))) {
        tpmiot_signer_free(&c->signer);
        free(c);
        return rc;
    }
    *out = c;
    return TPMIOT_OK;
}

tpmiot_rc tpmiot_client_from_connstr(tpmiot_client **out, const char *connstr,
                                     const tpmiot_client_options *o)
{
    tpmiot_connstr cs;
    uint8_t key[80];
    size_t n = sizeof key;
    tpmiot_client *c;
    tpmiot_rc rc;

    if (!out || !connstr)
        return TPMIOT_E_INVALID_ARG;
    *out = NULL;
    if ((rc = tpmiot_connstr_parse(connstr, &cs)))
        return rc;
    if (!cs.host_name[0] || !cs.device_id[0] || !cs.shared_access_key[0]) {
        tpmiot_connstr_wipe(&cs);
        return TPMIOT_E_CONNSTR_MISSING;
    }
    if (tpmiot_base64_decode(cs.shared_access_key, strlen(cs.shared_access_key), key, &n)) {
        tpmiot_connstr_wipe(&cs);
        return TPMIOT_E_BAD_KEY;
    }
    if (!(c = calloc(1, sizeof *c))) {
        rc = TPMIOT_E_NOMEM;
        goto out;
    }
    tpmiot_identity id = {cs.host_name, cs.device_id, cs.module_id};
    tpmiot_client_options opt = o ? *o : (tpmiot_client_options){0};
    if (cs.gateway_host_name[0] && !opt.gateway_host)
        opt.gateway_host = cs.gateway_host_name;
    if ((rc = tpmiot_signer_from_key(&c->signer, &id, key, n)) || (rc = setup(c, &opt))) {
        tpmiot_signer_free(&c->signer);
        free(c);
        goto out;
    }
    *out = c;
out:
    tpmiot_wipe(key, sizeof key);
    tpmiot_connstr_wipe(&cs);
    return rc;
}

void tpmiot_client_on_status(tpmiot_client *c, tpmiot_status_cb cb, void *arg)
{
    c->status_cb = cb;
    c->status_arg = arg;
}

void tpmiot_client_on_message(tpmiot_client *c, tpmiot_message_cb cb, void *arg)
{
    c->message_cb = cb;
    c->message_arg = arg;
}

tpmiot_rc tpmiot_client_start(tpmiot_client *c)
{
    if (!c || c->started)
        return TPMIOT_E_INVALID_ARG;
    if (pthread_create(&c->thread, NULL, run, c))
        return TPMIOT_E_NOMEM;
    c->started = true;
    return TPMIOT_OK;
}

tpmiot_rc tpmiot_client_send(tpmiot_client *c, const tpmiot_message *m, int qos, char *mid,
                             size_t mid_len)
{
    tpmiot_prop props[72];
    char id[37], bag[4096], topic[4600];
    size_t n = 0, blen = sizeof bag;
    tpmiot_rc rc;

    if (!c || !m || (qos != 0 && qos != 1) || (!m->payload && m->len) || m->nprops > 64)
        return TPMIOT_E_INVALID_ARG;
    for (size_t i = 0; i < m->nprops; i++)
        props[n++] = m->props[i];
    if (m->message_id) {
        if (!*m->message_id || strlen(m->message_id) > 128)
            return TPMIOT_E_INVALID_ARG;
        snprintf(id, sizeof id, "%.36s", m->message_id);
        props[n++] = (tpmiot_prop){"$.mid", m->message_id};
    } else {
        uuid(id);
        props[n++] = (tpmiot_prop){"$.mid", id};
    }
    if (m->correlation_id)
        props[n++] = (tpmiot_prop){"$.cid", m->correlation_id};
    if (m->content_type)
        props[n++] = (tpmiot_prop){"$.ct", m->content_type};
    if (m->content_encoding)
        props[n++] = (tpmiot_prop){"$.ce", m->content_encoding};
    if ((rc = tpmiot_propbag_encode(props, n, bag, &blen)))
        return rc == TPMIOT_E_BUFFER_SMALL ? TPMIOT_E_INVALID_ARG : rc;
    if ((size_t)snprintf(topic, sizeof topic, "%s%s", c->topic_prefix, bag) >= sizeof topic)
        return TPMIOT_E_INVALID_ARG;
    pthread_mutex_lock(&c->lock);
    rc = queue__push(&c->q, qos, topic, m->payload, m->len);
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    if (!rc && mid && mid_len)
        snprintf(mid, mid_len, "%s", m->message_id ? m->message_id : id);
    return rc;
}

tpmiot_rc tpmiot_client_flush(tpmiot_client *c, unsigned timeout_ms)
{
    struct timespec ts;
    tpmiot_rc rc = TPMIOT_OK;

    if (!c)
        return TPMIOT_E_INVALID_ARG;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->lock);
    while (c->q.count && rc == TPMIOT_OK)
        if (pthread_cond_timedwait(&c->changed, &c->lock, &ts) == ETIMEDOUT)
            rc = c->q.count ? TPMIOT_E_TIMEOUT : TPMIOT_OK;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

size_t tpmiot_client_pending(tpmiot_client *c)
{
    size_t n;

    pthread_mutex_lock(&c->lock);
    n = c->q.count;
    pthread_mutex_unlock(&c->lock);
    return n;
}

void tpmiot_client_counters(tpmiot_client *c, unsigned *connects, unsigned *refused)
{
    if (connects)
        *connects = c->connects;
    if (refused)
        *refused = c->refused;
}

void tpmiot_client_destroy(tpmiot_client **cp)
{
    tpmiot_client *c;

    if (!cp || !*cp)
        return;
    c = *cp;
    if (c->started) {
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_broadcast(&c->changed);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
    }
    queue__close(&c->q);
    tpmiot_signer_free(&c->signer);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->changed);
    mosquitto_lib_cleanup();
    free(c);
    *cp = NULL;
}
