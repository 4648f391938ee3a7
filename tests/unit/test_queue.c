/* The client's durable queue: what survives a process, a torn write, acks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "queue.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tpmiot-queue-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[100];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void fresh(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static void push_n(struct queue *q, int from, int to)
{
    char topic[64], payload[64];
    for (int i = from; i < to; i++) {
        snprintf(topic, sizeof topic, "devices/d/messages/events/n=%d", i);
        snprintf(payload, sizeof payload, "payload-%d", i);
        assert_int_equal(queue__push(q, 1, topic, payload, strlen(payload)), TPMIOT_OK);
    }
}

/* Sends the first n unsent as if published with mids starting at base. */
static void fly(struct queue *q, int n, int base)
{
    for (int i = 0; i < n; i++) {
        struct qmsg *m = queue__next_unsent(q);
        assert_non_null(m);
        m->inflight = true;
        m->mid = base + i;
    }
}

static void test_survives_reopen(void **state)
{
    struct queue q;
    char d[128];

    (void)state;
    fresh(d, sizeof d, "reopen");
    assert_int_equal(queue__open(&q, d, 0, true), TPMIOT_OK);
    push_n(&q, 0, 10);
    fly(&q, 4, 100);
    assert_true(queue__ack_mid(&q, 101));
    assert_true(queue__ack_mid(&q, 103));
    assert_false(queue__ack_mid(&q, 103)); /* once */
    assert_false(queue__ack_mid(&q, 999));
    queue__close(&q); /* the process dies: in-flight ones were not acknowledged */
    assert_int_equal(queue__open(&q, d, 0, true), TPMIOT_OK);
    assert_int_equal(q.count, 8);
    struct qmsg *m = q.head;
    int want[] = {0, 2, 4, 5, 6, 7, 8, 9};
    for (int i = 0; i < 8; i++, m = m->next) {
        char p[32];
        snprintf(p, sizeof p, "payload-%d", want[i]);
        assert_int_equal(m->len, strlen(p));
        assert_memory_equal(m->payload, p, m->len);
        assert_false(m->inflight);
    }
    /* New messages continue the sequence after what was on disk. */
    push_n(&q, 10, 11);
    assert_true(q.tail->seq > q.head->next->seq);
    queue__close(&q);
}

static void test_torn_tail(void **state)
{
    struct queue q;
    char d[128], log[160];
    struct stat st;

    (void)state;
    fresh(d, sizeof d, "torn");
    assert_int_equal(queue__open(&q, d, 0, false), TPMIOT_OK);
    push_n(&q, 0, 3);
    queue__close(&q);
    snprintf(log, sizeof log, "%s/queue.log", d);
    assert_int_equal(stat(log, &st), 0);
    /* A crash in the middle of the third record's write. */
    assert_int_equal(truncate(log, st.st_size - 7), 0);
    assert_int_equal(queue__open(&q, d, 0, false), TPMIOT_OK);
    assert_int_equal(q.count, 2);
    push_n(&q, 3, 4); /* appended after the last good record */
    queue__close(&q);
    assert_int_equal(queue__open(&q, d, 0, false), TPMIOT_OK);
    assert_int_equal(q.count, 3);
    assert_memory_equal(q.tail->payload, "payload-3", 9);
    queue__close(&q);
    /* Garbage in the middle ends the log there, nothing crashes. */
    FILE *f = fopen(log, "r+b");
    fseek(f, 30, SEEK_SET);
    fputc('X', f);
    fclose(f);
    assert_int_equal(queue__open(&q, d, 0, false), TPMIOT_OK);
    assert_int_equal(q.count, 0);
    queue__close(&q);
}

static void test_bounded(void **state)
{
    struct queue q;
    char topic[] = "devices/d/messages/events/";
    char payload[1000];
    int ok = 0;
    tpmiot_rc rc;

    (void)state;
    memset(payload, 'p', sizeof payload);
    assert_int_equal(queue__open(&q, NULL, 20000, false), TPMIOT_OK);
    while ((rc = queue__push(&q, 1, topic, payload, sizeof payload)) == TPMIOT_OK)
        ok++;
    assert_int_equal(rc, TPMIOT_E_QUEUE_FULL);
    assert_true(ok >= 15 && ok < 20);
    assert_true(q.bytes <= 20000);
    fly(&q, 1, 1);
    assert_true(queue__ack_mid(&q, 1));
    assert_int_equal(queue__push(&q, 1, topic, payload, sizeof payload), TPMIOT_OK);
    assert_int_equal(queue__push(&q, 1, topic, payload, 300 * 1024), TPMIOT_E_INVALID_ARG);
    queue__close(&q);
}

static void test_empties_and_compacts(void **state)
{
    struct queue q;
    char d[128], log[160];
    struct stat st;

    (void)state;
    fresh(d, sizeof d, "compact");
    snprintf(log, sizeof log, "%s/queue.log", d);
    assert_int_equal(queue__open(&q, d, 0, false), TPMIOT_OK);
    push_n(&q, 0, 5);
    fly(&q, 5, 1);
    for (int i = 1; i <= 5; i++)
        assert_true(queue__ack_mid(&q, i));
    assert_int_equal(stat(log, &st), 0);
    assert_int_equal(st.st_size, 0); /* all acknowledged: nothing kept */
    /* A big backlog whose front is acknowledged is rewritten, not kept whole. */
    char payload[2000];
    memset(payload, 'x', sizeof payload);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(queue__push(&q, 1, "devices/d/messages/events/", payload, sizeof payload),
                         TPMIOT_OK);
    fly(&q, 900, 1000);
    for (int i = 0; i < 900; i++)
        assert_true(queue__ack_mid(&q, 1000 + i));
    assert_int_equal(stat(log, &st), 0);
    /* Rewritten once it passed 1 MiB and 4x the live data: well under the 2 MB written. */
    assert_true(st.st_size < 1024 * 1024);
    queue__close(&q);
    assert_int_equal(queue__open(&q, d, 0, false), TPMIOT_OK);
    assert_int_equal(q.count, 100);
    queue__close(&q);
}

static void test_requeue(void **state)
{
    struct queue q;

    (void)state;
    assert_int_equal(queue__open(&q, NULL, 0, false), TPMIOT_OK);
    push_n(&q, 0, 3);
    fly(&q, 3, 1);
    assert_null(queue__next_unsent(&q));
    queue__requeue_inflight(&q);
    assert_ptr_equal(queue__next_unsent(&q), q.head);
    queue__close(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_survives_reopen), cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_bounded),         cmocka_unit_test(test_empties_and_compacts),
        cmocka_unit_test(test_requeue),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
