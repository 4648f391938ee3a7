/* tpmiot-hub internals shared by its commands. */
#ifndef TPMIOT_HUB_H
#define TPMIOT_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"

enum { HUB_OK = 0, HUB_FAIL = 1, HUB_USAGE = 2 };

#define HUB_DEFAULT_MQTT_PORT 8883
#define HUB_DEFAULT_REST_PORT 8443
#define HUB_API_VERSION "2021-04-12"

/* Global options. */
struct hub_opts {
    const char *dir;
    bool json;
};

int hub_make_certs(const char *dir, const char *hostname);

int cmd_init(const struct hub_opts *o, int argc, char **argv);
int cmd_run(const struct hub_opts *o, int argc, char **argv);
int cmd_admin(const struct hub_opts *o, int argc, char **argv);

/* The REST API server (rest/rest.c). */
struct rest_config {
    const char *dir; /* hub directory: registry, certificates */
    const char *hostname;
    const char *bind; /* address to listen on */
    unsigned port;
    unsigned mqtt_port; /* where the REST API publishes cloud-to-device messages */
};
struct rest;
int rest_start(struct rest **out, const struct rest_config *c, char *why, size_t why_len);
void rest_stop(struct rest **r);

/* Publishes one QoS 1 message to the hub as a service (c2d.c); 0 when acknowledged. */
int hub_service_publish(const char *host, unsigned port, const char *ca_file, const char *hostname,
                        const reg_policy *policy, const char *topic, const void *payload,
                        size_t len, char *why, size_t why_len);

/* A service token for policy p, ttl seconds; allocated (tpmiot_free). */
char *hub_policy_token(const char *hostname, const char *policy, const char *key_b64, uint64_t ttl);

/* Reads a whole small file; NULL on error. Caller frees (wipe if secret). */
char *hub_read_file(const char *path, size_t max, size_t *len);

/* Whether something already listens on addr:port (TCP). */
bool hub_port_taken(const char *addr, unsigned port);

#endif
