/* tpmiot — the device client: MQTT over TLS to an Azure IoT Hub-compatible
 * hub, with every token from the TPM, renewal, reconnects and a durable queue. */
#ifndef TPMIOT_CLIENT_H
#define TPMIOT_CLIENT_H

#include <stdbool.h>
#include <tpmiot/codec.h>
#include <tpmiot/errors.h>
#include <tpmiot/slot.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A connection to a hub. Created from a TPM slot or a connection string,
 * started, then kept connected by its own thread until destroyed.
 * Thread-safety: tpmiot_client_send, _flush and _pending may be called from
 * any thread at any time; the callbacks run on the client's thread (do not
 * call tpmiot_client_destroy from them); the rest belongs to one thread.
 */
typedef struct tpmiot_client tpmiot_client;

typedef struct {
    const char *ca_file;      /* CA to trust; NULL = the system store */
    unsigned port;            /* 0 = 8883 */
    const char *gateway_host; /* connect here; hostname stays in tokens */
    unsigned keepalive;       /* seconds; 0 = 60 */
    unsigned token_ttl;       /* seconds; 0 = 3600; renewed at 80% */
    const char *queue_dir;    /* durable queue here; NULL = memory only */
    size_t queue_max_bytes;   /* 0 = 16 MiB */
    bool queue_no_sync;       /* skip fdatasync per message (survives kill -9, not power loss) */
    const char *model_id;     /* Azure IoT Plug and Play model id, or NULL */
    unsigned backoff_min_ms;  /* first retry delay; 0 = 1000 */
    unsigned backoff_max_ms;  /* cap; 0 = 60000 */
    bool no_tls;              /* plain MQTT, for tests against a local listener only */
} tpmiot_client_options;

/* A message either way. Pointers are the caller's (send) or the library's
 * for the duration of the callback (receive). */
typedef struct {
    const void *payload;
    size_t len;
    const tpmiot_prop *props; /* application properties */
    size_t nprops;
    const char *message_id; /* $.mid; generated on send when NULL */
    const char *correlation_id;
    const char *content_type;
    const char *content_encoding;
} tpmiot_message;

typedef enum {
    TPMIOT_STATUS_CONNECTED = 1,
    TPMIOT_STATUS_TOKEN_RENEWED = 2,   /* reconnected with a fresh token */
    TPMIOT_STATUS_RETRYING = 3,        /* connection lost or not made; backing off */
    TPMIOT_STATUS_BAD_CREDENTIALS = 4, /* the hub refused: wrong key, unknown or disabled device */
    TPMIOT_STATUS_STOPPED = 5,
} tpmiot_status;

typedef void (*tpmiot_status_cb)(tpmiot_status status, const char *reason, unsigned retry_ms,
                                 void *arg);
typedef void (*tpmiot_message_cb)(const tpmiot_message *m, void *arg);

/*
 * A client for TPM slot `slot`: hostname and device id come from the slot,
 * every token from one TPM2_HMAC. t must outlive the client and must not be
 * used by other threads while the client runs (the client's thread signs).
 */
TPMIOT_API tpmiot_rc tpmiot_client_from_slot(tpmiot_client **out, tpmiot_tpm *t, unsigned slot,
                                             const tpmiot_client_options *o);

/*
 * A client from "HostName=..;DeviceId=..;[ModuleId=..;]SharedAccessKey=..":
 * the key is then in this process's memory, readable by anything that can
 * read it; the TPM slot keeps it out of reach. Parity with other SDKs.
 */
TPMIOT_API tpmiot_rc tpmiot_client_from_connstr(tpmiot_client **out, const char *connstr,
                                                const tpmiot_client_options *o);

/* Callbacks; set before tpmiot_client_start. arg is passed back. */
TPMIOT_API void tpmiot_client_on_status(tpmiot_client *c, tpmiot_status_cb cb, void *arg);
TPMIOT_API void tpmiot_client_on_message(tpmiot_client *c, tpmiot_message_cb cb, void *arg);

/* Starts the client's thread: connect, subscribe, send what is queued. */
TPMIOT_API tpmiot_rc tpmiot_client_start(tpmiot_client *c);

/*
 * Queues a device-to-cloud message (QoS 0 or 1). On return it is in the
 * queue — on disk, synced, with a queue directory — until the hub
 * acknowledges it; it is sent again after any reconnect or restart until
 * then (at least once). The message id used is written to mid (37 bytes)
 * when mid is not NULL. TPMIOT_E_QUEUE_FULL when the queue is at its bound.
 */
TPMIOT_API tpmiot_rc tpmiot_client_send(tpmiot_client *c, const tpmiot_message *m, int qos,
                                        char *mid, size_t mid_len);

/* Waits until every queued message is acknowledged: TPMIOT_E_TIMEOUT if not in time. */
TPMIOT_API tpmiot_rc tpmiot_client_flush(tpmiot_client *c, unsigned timeout_ms);

/* Messages queued and not yet acknowledged. */
TPMIOT_API size_t tpmiot_client_pending(tpmiot_client *c);

/* Connections made and CONNECTs refused so far (for monitoring). */
TPMIOT_API void tpmiot_client_counters(tpmiot_client *c, unsigned *connects, unsigned *refused);

/* Stops the thread, disconnects, frees; *c = NULL. Queued messages stay on disk. */
TPMIOT_API void tpmiot_client_destroy(tpmiot_client **c);

#ifdef __cplusplus
}
#endif
#endif
