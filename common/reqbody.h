/* A bounded request body, gathered from libmicrohttpd's upload callbacks.
 * Shared by the hub's REST API and the device portal; header-only, so that
 * neither libtpmiot nor common/ depends on libmicrohttpd. */
#ifndef TPMIOT_REQBODY_H
#define TPMIOT_REQBODY_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <tpmiot/codec.h>

struct reqbody {
    char *body; /* NUL-terminated */
    size_t len;
    bool too_big; /* more than max arrived: the rest was dropped */
};

/* Appends data unless that passes max (then marks too_big); false on no memory. */
static inline bool reqbody_add(struct reqbody *q, const char *data, size_t n, size_t max)
{
    char *nb;

    if (q->len + n > max) {
        q->too_big = true;
        return true;
    }
    if (!(nb = realloc(q->body, q->len + n + 1)))
        return false;
    q->body = nb;
    memcpy(q->body + q->len, data, n);
    q->len += n;
    q->body[q->len] = '\0';
    return true;
}

/* Frees q, wiping the body first: bodies carry keys. */
static inline void reqbody_free(struct reqbody *q)
{
    if (!q)
        return;
    if (q->body) {
        tpmiot_wipe(q->body, q->len);
        free(q->body);
    }
    free(q);
}

#endif
