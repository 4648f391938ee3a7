/*
 * The device client against a bare libmosquitto publisher on the same hub in
 * the same run: device-to-cloud QoS 1 messages per second with the durable
 * queue on (fdatasync per message, and without) and off. Also heap per
 * queued message, peak RSS of a connected idle client, library sizes.
 * Prints figures; asserts nothing. usage: bench_client TPMIOT_HUB [MESSAGES]
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mosquitto.h>
#include <tpmiot/tpmiot.h>

#include "hubfix.h"

#define HOST "bench.hub.local"

static struct hubfix H;
static char connstr[400];

struct pub {
    int acked, connack;
};

static void on_pub(struct mosquitto *m, void *arg, int mid)
{
    (void)m;
    (void)mid;
    ((struct pub *)arg)->acked++;
}

static void on_conn(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    ((struct pub *)arg)->connack = rc;
}

/* The peer: libmosquitto, no queue, the same 20-message window. */
static double bare(const char *token, int n)
{
    struct pub st = {0, -1};
    struct mosquitto *m = mosquitto_new("bench0", false, &st);
    char payload[200], topic[200];
    int sent = 0;
    double t0;

    memset(payload, 'x', sizeof payload);
    snprintf(topic, sizeof topic, "devices/bench0/messages/events/%%24.mid=%036d", 0);
    mosquitto_connect_callback_set(m, on_conn);
    mosquitto_publish_callback_set(m, on_pub);
    mosquitto_username_pw_set(m, HOST "/bench0/?api-version=2021-04-12", token);
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_max_inflight_messages_set(m, 20);
    if (mosquitto_connect(m, "127.0.0.1", (int)H.plain, 60))
        return 0;
    while (st.connack < 0)
        mosquitto_loop(m, 10, 1);
    t0 = hubfix_now();
    while (st.acked < n) {
        while (sent < n && sent - st.acked < 20) {
            mosquitto_publish(m, NULL, topic, sizeof payload, payload, 1, false);
            sent++;
        }
        mosquitto_loop(m, 10, 1);
    }
    double r = n / (hubfix_now() - t0);
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    return r;
}

static volatile int connected;
static void on_status(tpmiot_status s, const char *why, unsigned retry, void *arg)
{
    (void)why;
    (void)retry;
    (void)arg;
    if (s == TPMIOT_STATUS_CONNECTED)
        connected = 1;
}

/*
 * Ours: backlog = n messages queued before the connection, timed from
 * CONNECTED to the last acknowledgement (the pipeline itself); live = send()
 * n messages while connected, timed to the last acknowledgement (the
 * application thread enqueuing competes for the two cores).
 */
static volatile double connected_at;
static void on_status_t(tpmiot_status s, const char *why, unsigned retry, void *arg)
{
    (void)why;
    (void)retry;
    (void)arg;
    if (s == TPMIOT_STATUS_CONNECTED)
        connected_at = hubfix_now();
}

static double backlog(int n, const char *qdir, bool nosync)
{
    tpmiot_client_options o = {.port = H.plain,
                               .gateway_host = "127.0.0.1",
                               .no_tls = true,
                               .queue_dir = qdir,
                               .queue_no_sync = nosync,
                               .queue_max_bytes = 64u << 20};
    tpmiot_client *c = NULL;
    char payload[200];
    tpmiot_message m = {.payload = payload, .len = sizeof payload};
    double r;

    memset(payload, 'x', sizeof payload);
    connected_at = 0;
    if (tpmiot_client_from_connstr(&c, connstr, &o))
        return 0;
    for (int i = 0; i < n; i++)
        tpmiot_client_send(c, &m, 1, NULL, 0);
    tpmiot_client_on_status(c, on_status_t, NULL);
    tpmiot_client_start(c);
    if (tpmiot_client_flush(c, 600000))
        fprintf(stderr, "flush timed out\n");
    r = n / (hubfix_now() - connected_at);
    tpmiot_client_destroy(&c);
    return r;
}

static double ours(int n, const char *qdir, bool nosync)
{
    tpmiot_client_options o = {.port = H.plain,
                               .gateway_host = "127.0.0.1",
                               .no_tls = true,
                               .queue_dir = qdir,
                               .queue_no_sync = nosync,
                               .queue_max_bytes = 64u << 20};
    tpmiot_client *c = NULL;
    char payload[200];
    tpmiot_message m = {.payload = payload, .len = sizeof payload};
    double t0, r;

    memset(payload, 'x', sizeof payload);
    connected = 0;
    if (tpmiot_client_from_connstr(&c, connstr, &o))
        return 0;
    tpmiot_client_on_status(c, on_status, NULL);
    tpmiot_client_start(c);
    while (!connected)
        usleep(1000);
    t0 = hubfix_now();
    for (int i = 0; i < n; i++)
        while (tpmiot_client_send(c, &m, 1, NULL, 0) == TPMIOT_E_QUEUE_FULL)
            tpmiot_client_flush(c, 10);
    if (tpmiot_client_flush(c, 600000))
        fprintf(stderr, "flush timed out\n");
    r = n / (hubfix_now() - t0);
    tpmiot_client_destroy(&c);
    return r;
}

static long status_kb(const char *field)
{
    char line[256];
    long kb = 0;
    FILE *f = fopen("/proc/self/status", "r");

    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, strlen(field)))
            kb = strtol(line + strlen(field), NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

static long file_kb(void *sym)
{
    Dl_info di;
    struct stat st;

    if (!dladdr(sym, &di) || stat(di.dli_fname, &st))
        return 0;
    return (long)(st.st_size / 1024);
}

int main(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[2]) : 10000;
    hub_registry *reg = NULL;
    reg_device d = {0}, out;
    char qdir[200], *token;
    double r_bare[2] = {0}, r_mem[2] = {0}, r_nosync[2] = {0}, r_sync[2] = {0}, r_back[2] = {0},
           r_backd[2] = {0};

    if (argc < 2 || hubfix_start(&H, argv[1], HOST, &reg)) {
        fprintf(stderr, "usage: bench_client TPMIOT_HUB [MESSAGES] (hub did not start)\n");
        return 1;
    }
    snprintf(d.device_id, sizeof d.device_id, "bench0");
    d.enabled = true;
    registry_device_put(reg, &d, NULL, &out, NULL);
    registry_close(&reg);
    snprintf(connstr, sizeof connstr, "HostName=%s;DeviceId=bench0;SharedAccessKey=%s", HOST,
             out.primary_key);
    {
        uint8_t k[64];
        size_t kl = sizeof k;
        tpmiot_signer *s = NULL;
        tpmiot_identity id = {HOST, "bench0", NULL};
        tpmiot_sas_options so = {.ttl = 3600};
        tpmiot_base64_decode(out.primary_key, strlen(out.primary_key), k, &kl);
        tpmiot_signer_from_key(&s, &id, k, kl);
        tpmiot_sas_build(s, &so, &token);
        tpmiot_signer_free(&s);
    }
    mosquitto_lib_init();
    for (int r = 0; r < 2; r++) {
        r_bare[r] = bare(token, n);
        r_mem[r] = ours(n, NULL, false);
        snprintf(qdir, sizeof qdir, "%s/q-nosync", H.dir);
        r_nosync[r] = ours(n, qdir, true);
        snprintf(qdir, sizeof qdir, "%s/q-sync", H.dir);
        r_sync[r] = ours(n / 10, qdir, false);
        r_back[r] = backlog(n, NULL, false);
        snprintf(qdir, sizeof qdir, "%s/q-back", H.dir);
        r_backd[r] = backlog(n, qdir, false);
    }
#define AVG(a) (((a)[0] + (a)[1]) / 2)
    printf("device-to-cloud QoS 1, 200-byte messages, window 20, plain listener, 2 runs:\n");
    printf("  bare libmosquitto, no queue:               %8.0f msg/s\n", AVG(r_bare));
    printf("  tpmiot client, backlog, queue in memory:   %8.0f msg/s  ratio %.3f\n", AVG(r_back),
           AVG(r_back) / AVG(r_bare));
    printf("  tpmiot client, backlog, queue on disk:     %8.0f msg/s  ratio %.3f\n", AVG(r_backd),
           AVG(r_backd) / AVG(r_bare));
    printf("  tpmiot client, live send, queue in memory: %8.0f msg/s  ratio %.3f\n", AVG(r_mem),
           AVG(r_mem) / AVG(r_bare));
    printf("  tpmiot client, live send, disk, no fsync:  %8.0f msg/s  ratio %.3f\n", AVG(r_nosync),
           AVG(r_nosync) / AVG(r_bare));
    printf("  tpmiot client, live send, disk, fdatasync: %8.0f msg/s  ratio %.3f (%d messages)\n",
           AVG(r_sync), AVG(r_sync) / AVG(r_bare), n / 10);

    /* Heap per queued message: a client that never connects holds them all. */
    {
        tpmiot_client_options o = {.port = 1, .gateway_host = "127.0.0.1", .no_tls = true};
        tpmiot_client *c = NULL;
        char payload[200];
        tpmiot_message m = {.payload = payload, .len = sizeof payload};
        memset(payload, 'x', sizeof payload);
        tpmiot_client_from_connstr(&c, connstr, &o);
        struct mallinfo2 a = mallinfo2();
        for (int i = 0; i < 10000; i++)
            tpmiot_client_send(c, &m, 1, NULL, 0);
        struct mallinfo2 b = mallinfo2();
        printf("heap per queued message (200-byte payload, ~100-byte topic): %.0f bytes\n",
               (double)(b.uordblks - a.uordblks) / 10000);
        tpmiot_client_destroy(&c);
    }
    /* Peak RSS of a connected idle client, in a fresh process. */
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) {
        long base = status_kb("VmHWM:");
        tpmiot_client_options o = {.port = H.mqtt, .gateway_host = "127.0.0.1"};
        char ca[300];
        snprintf(ca, sizeof ca, "%s/ca.crt", H.hubdir);
        o.ca_file = ca;
        tpmiot_client *c = NULL;
        connected = 0;
        tpmiot_client_from_connstr(&c, connstr, &o);
        tpmiot_client_on_status(c, on_status, NULL);
        tpmiot_client_start(c);
        for (int i = 0; i < 500 && !connected; i++)
            usleep(10000);
        sleep(1);
        printf("peak RSS of a connected idle client (TLS): %ld KiB (process before the client: "
               "%ld KiB)\n",
               status_kb("VmHWM:"), base);
        fflush(stdout);
        tpmiot_client_destroy(&c);
        _exit(0);
    }
    waitpid(p, NULL, 0);
    printf("library sizes: libtpmiot-client.so %ld KiB, libtpmiot.so %ld KiB (with debug info)\n",
           file_kb((void *)tpmiot_client_send), file_kb((void *)tpmiot_sas_build));
    tpmiot_free(token);
    hubfix_stop(&H);
    return 0;
}
