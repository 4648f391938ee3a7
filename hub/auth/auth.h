/* Who may connect and what they may touch: the hub's checks, as plain
 * functions over the registry so that they are tested without a broker. */
#ifndef TPMIOT_HUB_AUTH_H
#define TPMIOT_HUB_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "registry.h"

typedef enum {
    AUTH_OK = 0,
    AUTH_BAD_USERNAME,  /* not "{hostname}/{device}[/{module}]/?..." nor "service@{hostname}" */
    AUTH_WRONG_HOST,    /* username or token for another hub */
    AUTH_BAD_CLIENT_ID, /* client id is not the device (or device/module) */
    AUTH_NO_PASSWORD,
    AUTH_BAD_TOKEN,      /* not a SAS token, or oversized */
    AUTH_WRONG_RESOURCE, /* token's sr names another device or scope */
    AUTH_UNKNOWN_DEVICE,
    AUTH_DISABLED,
    AUTH_SIGNATURE, /* signed with neither of the keys */
    AUTH_EXPIRED,
    AUTH_TOO_LONG,          /* expiry further ahead than the hub accepts */
    AUTH_POLICY_AS_DEVICE,  /* a token with skn= presented as a device */
    AUTH_DEVICE_AS_SERVICE, /* a device token presented as a service */
    AUTH_UNKNOWN_POLICY,
    AUTH_NO_RIGHT, /* the policy lacks the right asked for */
    AUTH_DB,
} auth_result;

const char *auth_result_str(auth_result r);

enum { IDENT_DEVICE = 1, IDENT_MODULE = 2, IDENT_SERVICE = 3 };

typedef struct {
    int kind;
    char device_id[129];
    char module_id[129];
    char policy[65];
    unsigned rights;
} auth_identity;

typedef struct {
    const char *hostname;
    unsigned skew;    /* seconds of clock difference tolerated (default 300) */
    uint64_t max_ttl; /* the furthest expiry accepted, seconds from now */
} auth_config;

/*
 * A CONNECT: client id, username and password (the SAS token) as received.
 * On AUTH_OK *id says who it is. Never logs; the caller logs the result.
 */
auth_result auth_mqtt(hub_registry *r, const auth_config *c, const char *client_id,
                      const char *username, const char *password, uint64_t now, auth_identity *id);

/*
 * An HTTP Authorization header value: a hub-level SAS token (sr = hostname,
 * skn = policy). AUTH_NO_RIGHT when the policy lacks `right`.
 */
auth_result auth_service_token(hub_registry *r, const auth_config *c, const char *token,
                               uint64_t now, unsigned right, auth_identity *id);

/*
 * The username the plugin gives an authenticated session, which is what the
 * ACL check reads: "d:{device}", "m:{device}/{module}" or "s:{policy}".
 */
void auth_session_name(const auth_identity *id, char *out, size_t len);

enum { ACL_SUBSCRIBE = 1, ACL_PUBLISH = 2, ACL_RECEIVE = 3 };

/* Whether session `session` (auth_session_name) may do `what` on topic. */
bool auth_acl(const char *session, int what, const char *topic);

#endif
