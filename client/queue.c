/*
 * The durable queue. On disk, DIR/queue.log holds one record per accepted
 * message and DIR/queue.ack one 8-byte sequence number per acknowledged one:
 *   record = magic "TQM1" | seq u64 | qos u8 | topic_len u16 | payload_len u32
 *            | topic | payload | crc32 of all before, little-endian.
 * A record cut short by a crash fails its CRC and ends the log: it was never
 * accepted (push had not returned). Acks are appended without sync: losing
 * one after a crash means that message is sent again, which at-least-once
 * allows and the message id lets the receiver drop. When nothing is left
 * unacknowledged both files are truncated; when the log outgrows 4 times the
 * live data it is rewritten (to a temporary file, then renamed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue.h"

#define MAGIC "TQM1"
#define HDR (4 + 8 + 1 + 2 + 4)

/* CRC-32 (IEEE, as zlib's), bitwise: records are small and this keeps the
 * client free of another dependency. */
static uint32_t crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static struct qmsg *msg_new(uint64_t seq, int qos, const char *topic, size_t tlen,
                            const void *payload, size_t len)
{
    struct qmsg *m = calloc(1, sizeof *m);

    if (!m)
        return NULL;
    m->seq = seq;
    m->qos = qos;
    m->topic = malloc(tlen + 1);
    m->payload = malloc(len ? len : 1);
    if (!m->topic || !m->payload) {
        free(m->topic);
        free(m->payload);
        free(m);
        return NULL;
    }
    memcpy(m->topic, topic, tlen);
    m->topic[tlen] = '\0';
    if (len)
        memcpy(m->payload, payload, len);
    m->len = len;
    return m;
}

static void msg_free(struct qmsg *m)
{
    free(m->topic);
    free(m->payload);
    free(m);
}

static size_t msg_cost(const struct qmsg *m)
{
    return sizeof *m + strlen(m->topic) + 1 + m->len;
}

static void append(struct queue *q, struct qmsg *m)
{
    if (q->tail)
        q->tail->next = m;
    else
        q->head = m;
    q->tail = m;
    q->count++;
    q->bytes += msg_cost(m);
}

static size_t encode(const struct qmsg *m, uint8_t **out)
{
    size_t tlen = strlen(m->topic), n = HDR + tlen + m->len + 4;
    uint8_t *b = malloc(n);
    uint32_t crc;

    if (!b)
        return 0;
    memcpy(b, MAGIC, 4);
    put_le(b + 4, m->seq, 8);
    b[12] = (uint8_t)m->qos;
    put_le(b + 13, tlen, 2);
    put_le(b + 15, m->len, 4);
    memcpy(b + HDR, m->topic, tlen);
    memcpy(b + HDR + tlen, m->payload, m->len);
    crc = crc32(0, b, n - 4);
    put_le(b + n - 4, crc, 4);
    *out = b;
    return n;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Reads what a previous process left: the log minus the acknowledged. */
static tpmiot_rc load(struct queue *q)
{
    struct stat st;
    uint8_t *log = NULL, *ack = NULL;
    uint64_t *acked = NULL;
    size_t nack = 0, off = 0;
    tpmiot_rc rc = TPMIOT_OK;

    if (fstat(q->ack_fd, &st) == 0 && st.st_size >= 8) {
        nack = (size_t)st.st_size / 8;
        ack = malloc(nack * 8);
        acked = malloc(nack * sizeof *acked);
        if (!ack || !acked || pread(q->ack_fd, ack, nack * 8, 0) != (ssize_t)(nack * 8)) {
            rc = TPMIOT_E_IO;
            goto out;
        }
        for (size_t i = 0; i < nack; i++)
            acked[i] = get_le(ack + 8 * i, 8);
        qsort(acked, nack, sizeof *acked, cmp_u64);
    }
    if (fstat(q->log_fd, &st) || st.st_size == 0)
        goto out;
    if (!(log = malloc((size_t)st.st_size)) ||
        pread(q->log_fd, log, (size_t)st.st_size, 0) != st.st_size) {
        rc = TPMIOT_E_IO;
        goto out;
    }
    while (off + HDR + 4 <= (size_t)st.st_size) {
        const uint8_t *r = log + off;
        size_t tlen = get_le(r + 13, 2), plen = get_le(r + 15, 4), n = HDR + tlen + plen + 4;
        uint64_t seq;
        if (memcmp(r, MAGIC, 4) || off + n > (size_t)st.st_size ||
            crc32(0, r, n - 4) != get_le(r + n - 4, 4))
            break; /* torn tail: never accepted */
        seq = get_le(r + 4, 8);
        if (seq >= q->next_seq)
            q->next_seq = seq + 1;
        if (!nack || !bsearch(&seq, acked, nack, sizeof *acked, cmp_u64)) {
            struct qmsg *m = msg_new(seq, r[12], (const char *)r + HDR, tlen, r + HDR + tlen, plen);
            if (!m) {
                rc = TPMIOT_E_NOMEM;
                goto out;
            }
            append(q, m);
        }
        off += n;
    }
    /* Cut a torn tail so that new records follow the last good one. */
    if (off != (size_t)st.st_size && ftruncate(q->log_fd, (off_t)off))
        rc = TPMIOT_E_IO;
    q->log_bytes = off;
out:
    free(log);
    free(ack);
    free(acked);
    return rc;
}

tpmiot_rc queue__open(struct queue *q, const char *dir, size_t max_bytes, bool sync)
{
    char path[460];
    tpmiot_rc rc;

    memset(q, 0, sizeof *q);
    q->log_fd = q->ack_fd = -1;
    q->max_bytes = max_bytes ? max_bytes : 16u << 20;
    q->max_count = 100000;
    q->next_seq = 1;
    q->sync = sync;
    if (!dir)
        return TPMIOT_OK;
    if (strlen(dir) >= sizeof q->dir - 16)
        return TPMIOT_E_INVALID_ARG;
    snprintf(q->dir, sizeof q->dir, "%s", dir);
    if (mkdir(dir, 0700) && errno != EEXIST)
        return TPMIOT_E_IO;
    snprintf(path, sizeof path, "%s/queue.log", dir);
    q->log_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    snprintf(path, sizeof path, "%s/queue.ack", dir);
    q->ack_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (q->log_fd < 0 || q->ack_fd < 0) {
        queue__close(q);
        return TPMIOT_E_IO;
    }
    if ((rc = load(q)))
        queue__close(q);
    return rc;
}

void queue__close(struct queue *q)
{
    struct qmsg *m = q->head;

    while (m) {
        struct qmsg *n = m->next;
        msg_free(m);
        m = n;
    }
    q->head = q->tail = NULL;
    q->count = q->bytes = 0;
    if (q->log_fd >= 0)
        close(q->log_fd);
    if (q->ack_fd >= 0)
        close(q->ack_fd);
    q->log_fd = q->ack_fd = -1;
}

tpmiot_rc queue__push(struct queue *q, int qos, const char *topic, const void *payload, size_t len)
{
    struct qmsg *m;
    uint8_t *rec = NULL;
    size_t n;

    if (len > 256 * 1024 || strlen(topic) > 65535)
        return TPMIOT_E_INVALID_ARG;
    if (!(m = msg_new(q->next_seq, qos, topic, strlen(topic), payload, len)))
        return TPMIOT_E_NOMEM;
    if (q->count >= q->max_count || q->bytes + msg_cost(m) > q->max_bytes) {
        msg_free(m);
        return TPMIOT_E_QUEUE_FULL;
    }
    if (q->log_fd >= 0) {
        if (!(n = encode(m, &rec)) || write_all(q->log_fd, rec, n) ||
            (q->sync && fdatasync(q->log_fd))) {
            free(rec);
            msg_free(m);
            /* Whatever part reached the file fails its CRC and is cut at load. */
            return TPMIOT_E_IO;
        }
        q->log_bytes += n;
        free(rec);
    }
    q->next_seq++;
    append(q, m);
    return TPMIOT_OK;
}

struct qmsg *queue__next_unsent(struct queue *q)
{
    for (struct qmsg *m = q->head; m; m = m->next)
        if (!m->inflight)
            return m;
    return NULL;
}

/* Rewrites the log with the live messages only. */
static void compact(struct queue *q)
{
    char tmp[460], path[460];
    int fd;
    size_t total = 0;

    if (q->log_fd < 0)
        return;
    if (!q->head) {
        if (ftruncate(q->log_fd, 0) == 0 && ftruncate(q->ack_fd, 0) == 0)
            q->log_bytes = 0;
        return;
    }
    if (q->log_bytes < 1024 * 1024 || q->log_bytes < 4 * q->bytes)
        return;
    snprintf(tmp, sizeof tmp, "%s/queue.log.tmp", q->dir);
    snprintf(path, sizeof path, "%s/queue.log", q->dir);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        return;
    for (struct qmsg *m = q->head; m; m = m->next) {
        uint8_t *rec;
        size_t n = encode(m, &rec);
        if (!n || write_all(fd, rec, n)) {
            free(rec);
            close(fd);
            unlink(tmp);
            return;
        }
        total += n;
        free(rec);
    }
    /* The new log must be on disk before it replaces the old one, and the
     * acks (which name messages of the old one) go only after that. */
    if (fdatasync(fd) || rename(tmp, path)) {
        close(fd);
        unlink(tmp);
        return;
    }
    close(q->log_fd);
    q->log_fd = fd;
    fcntl(fd, F_SETFL, O_APPEND);
    if (ftruncate(q->ack_fd, 0) == 0)
        q->log_bytes = total;
}

bool queue__ack_mid(struct queue *q, int mid)
{
    struct qmsg *prev = NULL;

    for (struct qmsg *m = q->head; m; prev = m, m = m->next) {
        if (!m->inflight || m->mid != mid)
            continue;
        if (q->ack_fd >= 0) {
            uint8_t b[8];
            put_le(b, m->seq, 8);
            if (write_all(q->ack_fd, b, 8))
                return false; /* it will be sent again: at least once */
        }
        if (prev)
            prev->next = m->next;
        else
            q->head = m->next;
        if (q->tail == m)
            q->tail = prev;
        q->count--;
        q->bytes -= msg_cost(m);
        msg_free(m);
        compact(q);
        return true;
    }
    return false;
}

void queue__requeue_inflight(struct queue *q)
{
    for (struct qmsg *m = q->head; m; m = m->next)
        m->inflight = false;
}
