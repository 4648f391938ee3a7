/* The device client's outgoing queue: in memory, optionally backed by a log
 * on disk so that accepted messages survive the process. Not thread-safe:
 * the client locks around it. */
#ifndef TPMIOT_CLIENT_QUEUE_H
#define TPMIOT_CLIENT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tpmiot/errors.h>

struct qmsg {
    uint64_t seq;
    int qos;
    bool inflight;
    int mid; /* MQTT message id while in flight */
    char *topic;
    void *payload;
    size_t len;
    struct qmsg *next;
};

struct queue {
    struct qmsg *head, *tail;
    size_t count, bytes, max_bytes, max_count;
    uint64_t next_seq;
    int log_fd, ack_fd; /* -1 without a directory */
    bool sync;          /* fdatasync the log before an enqueue returns */
    char dir[400];
    size_t log_bytes; /* size of the log, for compaction */
};

/*
 * Opens the queue. dir NULL: memory only. With a directory, loads the
 * messages a previous process accepted and the hub did not acknowledge.
 */
tpmiot_rc queue__open(struct queue *q, const char *dir, size_t max_bytes, bool sync);
void queue__close(struct queue *q);

/* Appends a message (copied); on disk (and synced, if asked) when it returns. */
tpmiot_rc queue__push(struct queue *q, int qos, const char *topic, const void *payload, size_t len);

/* The first message not in flight, or NULL. */
struct qmsg *queue__next_unsent(struct queue *q);

/* The hub acknowledged the message in flight with this MQTT id: drop it. */
bool queue__ack_mid(struct queue *q, int mid);

/* The connection is gone: everything in flight is unsent again. */
void queue__requeue_inflight(struct queue *q);

#endif
