/* Publishing as a service through the hub's own broker (libmosquitto, TLS). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <tpmiot/tpmiot.h>

#include "hub.h"

struct pub_state {
    int mid;
    bool acked;
    int connack;
};

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    ((struct pub_state *)arg)->connack = rc;
}

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
    struct pub_state *s = arg;
    (void)m;
    if (mid == s->mid)
        s->acked = true;
}

int hub_service_publish(const char *host, unsigned port, const char *ca_file, const char *hostname,
                        const reg_policy *policy, const char *topic, const void *payload,
                        size_t len, char *why, size_t why_len)
{
    struct pub_state st = {.connack = -1};
    char cid[40], user[300];
    char *tok = hub_policy_token(hostname, policy->name, policy->primary_key, 300);
    struct mosquitto *m = NULL;
    int rc = -1;

    if (!tok) {
        snprintf(why, why_len, "cannot sign a service token");
        return -1;
    }
    mosquitto_lib_init();
    snprintf(cid, sizeof cid, "svc#c2d-%ld-%ld", (long)time(NULL), (long)clock());
    snprintf(user, sizeof user, "service@%s", hostname);
    if (!(m = mosquitto_new(cid, true, &st)))
        goto out;
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_publish_callback_set(m, on_publish);
    mosquitto_username_pw_set(m, user, tok);
    if (mosquitto_tls_set(m, ca_file, NULL, NULL, NULL, NULL) ||
        mosquitto_connect(m, host, (int)port, 30) != MOSQ_ERR_SUCCESS) {
        snprintf(why, why_len, "cannot reach the broker at %s:%u", host, port);
        goto out;
    }
    for (int i = 0; i < 100 && st.connack < 0; i++)
        mosquitto_loop(m, 50, 1);
    if (st.connack != 0) {
        snprintf(why, why_len, "the broker refused the service connection (%d)", st.connack);
        goto out;
    }
    if (mosquitto_publish(m, &st.mid, topic, (int)len, payload, 1, false)) {
        snprintf(why, why_len, "publish failed");
        goto out;
    }
    for (int i = 0; i < 100 && !st.acked; i++)
        if (mosquitto_loop(m, 50, 1) != MOSQ_ERR_SUCCESS)
            break;
    if (!st.acked) {
        snprintf(why, why_len, "the broker did not acknowledge the message");
        goto out;
    }
    rc = 0;
out:
    if (m) {
        mosquitto_disconnect(m);
        mosquitto_destroy(m);
    }
    tpmiot_free(tok);
    return rc;
}
