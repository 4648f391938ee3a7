/*
 * tpmiot-hub against its peers, in one run on this machine:
 *  1. token checks per second in-process (auth_mqtt) vs bare HMAC-SHA256 over
 *     the same string-to-sign;
 *  2. connect storm: TLS clients connecting with SAS tokens to our hub vs
 *     mosquitto with a password file (same certificates, same client code);
 *  3. device-to-cloud QoS 1 throughput through our hub vs plain mosquitto
 *     without a plugin (plain listeners, one publisher);
 *  4. broker memory per connected idle device.
 * Prints figures and ratios; asserts nothing.
 * usage: bench_hub TPMIOT_HUB_BINARY [CONNECTS] [MESSAGES] [IDLE]
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <tpmiot/tpmiot.h>

#include "auth.h"
#include "hubfix.h"
#include "registry.h"

#define HOST "bench.hub.local"
#define THREADS 4

static struct hubfix H;
static char dir[128];
static unsigned base_port;

static double now_s(void)
{
    return hubfix_now();
}

static char *device_token(const char *key, const char *dev, uint64_t ttl)
{
    uint8_t k[80];
    size_t n = sizeof k;
    tpmiot_signer *s = NULL;
    tpmiot_identity id = {HOST, dev, NULL};
    tpmiot_sas_options o = {.ttl = ttl};
    char *t = NULL;

    tpmiot_base64_decode(key, strlen(key), k, &n);
    tpmiot_signer_from_key(&s, &id, k, n);
    tpmiot_sas_build(s, &o, &t);
    tpmiot_signer_free(&s);
    return t;
}

/* ---- 1. token checks ---- */
static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median7(double *v)
{
    qsort(v, 7, sizeof *v, cmpd);
    return v[3];
}

/* Seven rounds, the three kinds interleaved so that frequency drift hits all. */
static void bench_checks(hub_registry *reg, int n)
{
    reg_device d;
    char *tok;
    auth_config cfg = {HOST, 300, 366 * 86400ULL};
    auth_identity id;
    uint8_t key[64], mac[32];
    size_t klen = sizeof key;
    unsigned int ml;
    char sts[256];
    double ours[7], verify[7], bare[7], t0;
    tpmiot_signer *s = NULL;

    registry_device_get(reg, "dev0", NULL, &d);
    tok = device_token(d.primary_key, "dev0", 3600);
    tpmiot_base64_decode(d.primary_key, strlen(d.primary_key), key, &klen);
    snprintf(sts, sizeof sts, "%s/devices/dev0\n%llu", HOST, (unsigned long long)time(NULL) + 3600);
    tpmiot_identity sid = {HOST, "dev0", NULL};
    tpmiot_signer_from_key(&s, &sid, key, klen);
    for (int r = 0; r < 7; r++) {
        t0 = now_s();
        for (int i = 0; i < n; i++)
            if (auth_mqtt(reg, &cfg, "dev0", HOST "/dev0/?api-version=2021-04-12", tok,
                          (uint64_t)time(NULL), &id) != AUTH_OK)
                exit(1);
        ours[r] = n / (now_s() - t0);
        t0 = now_s();
        for (int i = 0; i < n; i++)
            if (tpmiot_sas_verify(s, tok, (uint64_t)time(NULL)) != TPMIOT_OK)
                exit(1);
        verify[r] = n / (now_s() - t0);
        t0 = now_s();
        for (int i = 0; i < n; i++)
            HMAC(EVP_sha256(), key, (int)klen, (const uint8_t *)sts, strlen(sts), mac, &ml);
        bare[r] = n / (now_s() - t0);
    }
    tpmiot_signer_free(&s);
    double o = median7(ours), v = median7(verify), b = median7(bare);
    printf("CONNECT checks (auth_mqtt: parse, registry lookup, verify): %9.0f /s\n", o);
    printf("token verifications (tpmiot_sas_verify, key in hand):       %9.0f /s\n", v);
    printf("bare HMAC-SHA256 over the same string-to-sign:              %9.0f /s\n", b);
    printf("ratio verify/bare HMAC: %.3f; CONNECT check/bare HMAC: %.3f (medians of 7 x %d)\n\n",
           v / b, o / b, n);
    tpmiot_free(tok);
}

/* ---- brokers ---- */
static pid_t spawn(char *const argv[], const char *log)
{
    pid_t p = fork();
    if (p == 0) {
        FILE *f = freopen(log, "w", stderr);
        (void)f;
        execvp(argv[0], argv);
        _exit(127);
    }
    return p;
}

static void stop(pid_t p)
{
    kill(p, SIGTERM);
    waitpid(p, NULL, 0);
}

static long rss_kb(pid_t p)
{
    char path[64], line[256];
    long kb = 0;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", p);
    if (!(f = fopen(path, "r")))
        return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* ---- 2. connect storm ---- */
struct storm {
    unsigned port;
    bool tls;
    int n;
    bool azure_user; /* username "{host}/{id}/?api-version=..", else the id itself */
    char **pass;     /* per thread */
    char **cid;
    int failures;
};

static struct storm *S;

struct conn_state {
    int rc;
};

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    ((struct conn_state *)arg)->rc = rc;
}

static int connect_once(unsigned port, bool tls, const char *cid, const char *user,
                        const char *pass)
{
    struct conn_state st = {-1};
    struct mosquitto *m = mosquitto_new(cid, true, &st);
    char ca[200];
    int ok = -1;

    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_username_pw_set(m, user, pass);
    /* Without it, Nagle and delayed ACKs put ~40 ms into every handshake and
     * both brokers measure the same client-side stall. */
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    if (tls)
        mosquitto_tls_set(m, ca, NULL, NULL, NULL, NULL);
    if (mosquitto_connect(m, "127.0.0.1", (int)port, 30) == MOSQ_ERR_SUCCESS) {
        for (int i = 0; i < 2000 && st.rc < 0; i++)
            mosquitto_loop(m, 2, 1);
        ok = st.rc == 0 ? 0 : -1;
        mosquitto_disconnect(m);
    }
    mosquitto_destroy(m);
    return ok;
}

static void *storm_thread(void *arg)
{
    long t = (long)arg;
    char user[300];

    if (S->azure_user)
        snprintf(user, sizeof user, HOST "/%s/?api-version=2021-04-12", S->cid[t]);
    else
        snprintf(user, sizeof user, "%s", S->cid[t]);
    for (int i = 0; i < S->n / THREADS; i++)
        if (connect_once(S->port, S->tls, S->cid[t], user, S->pass[t]))
            __atomic_add_fetch(&S->failures, 1, __ATOMIC_RELAXED);
    return NULL;
}

static double run_storm(struct storm *s)
{
    pthread_t th[THREADS];
    double t0 = now_s();

    S = s;
    for (long i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, storm_thread, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    return (s->n / THREADS * THREADS) / (now_s() - t0);
}

/* ---- 3. throughput ---- */
struct pub_state {
    int acked, connack;
};

static void on_pub(struct mosquitto *m, void *arg, int mid)
{
    (void)m;
    (void)mid;
    ((struct pub_state *)arg)->acked++;
}

static void on_pub_connect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    ((struct pub_state *)arg)->connack = rc;
}

static double run_throughput(unsigned port, const char *cid, const char *user, const char *pass,
                             const char *topic, int n)
{
    struct pub_state st = {0, -1};
    struct mosquitto *m = mosquitto_new(cid, true, &st);
    char payload[200];
    double t0;
    int sent = 0;

    memset(payload, 'x', sizeof payload);
    mosquitto_connect_callback_set(m, on_pub_connect);
    mosquitto_publish_callback_set(m, on_pub);
    mosquitto_username_pw_set(m, user, pass);
    mosquitto_max_inflight_messages_set(m, 20);
    if (mosquitto_connect(m, "127.0.0.1", (int)port, 60))
        return 0;
    while (st.connack < 0)
        mosquitto_loop(m, 20, 1);
    if (st.connack)
        return 0;
    t0 = now_s();
    while (st.acked < n) {
        /* Keep the 20-message window full, as a device with a backlog would. */
        while (sent < n && sent - st.acked < 20) {
            mosquitto_publish(m, NULL, topic, sizeof payload, payload, 1, false);
            sent++;
        }
        mosquitto_loop(m, 10, 1);
    }
    double rate = n / (now_s() - t0);
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    return rate;
}

/* ---- 4. idle clients ---- */
static long idle_memory(pid_t broker, unsigned port, bool tls, int n, char **cids, char **users,
                        char **passes)
{
    struct mosquitto **ms = calloc((size_t)n, sizeof *ms);
    struct conn_state *st = calloc((size_t)n, sizeof *st);
    char ca[200];
    long before, after;

    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    sleep(1);
    before = rss_kb(broker);
    for (int i = 0; i < n; i++) {
        st[i].rc = -1;
        ms[i] = mosquitto_new(cids[i], false, &st[i]);
        mosquitto_connect_callback_set(ms[i], on_connect);
        mosquitto_username_pw_set(ms[i], users[i], passes[i]);
        if (tls)
            mosquitto_tls_set(ms[i], ca, NULL, NULL, NULL, NULL);
        mosquitto_connect(ms[i], "127.0.0.1", (int)port, 600);
        mosquitto_loop_start(ms[i]);
    }
    for (int w = 0; w < 300; w++) {
        int done = 0;
        for (int i = 0; i < n; i++)
            done += st[i].rc == 0;
        if (done == n)
            break;
        usleep(20000);
    }
    sleep(1);
    after = rss_kb(broker);
    for (int i = 0; i < n; i++) {
        mosquitto_disconnect(ms[i]);
        mosquitto_loop_stop(ms[i], false);
        mosquitto_destroy(ms[i]);
    }
    free(ms);
    free(st);
    return after - before;
}

int main(int argc, char **argv)
{
    int connects = argc > 2 ? atoi(argv[2]) : 400, msgs = argc > 3 ? atoi(argv[3]) : 20000,
        idle = argc > 4 ? atoi(argv[4]) : 200;
    char cmd[1400], logp[300], pw[300], conf[300];
    hub_registry *reg = NULL;
    char **cid = calloc((size_t)idle + THREADS, sizeof *cid),
         **pass = calloc((size_t)idle + THREADS, sizeof *pass),
         **user = calloc((size_t)idle + THREADS, sizeof *user),
         **ppass = calloc((size_t)idle + THREADS, sizeof *ppass);

    if (argc < 2) {
        fprintf(stderr, "usage: bench_hub TPMIOT_HUB [CONNECTS] [MESSAGES] [IDLE]\n");
        return 2;
    }
    mosquitto_lib_init();
    /* Our hub, up before the devices exist: the plugin reads the registry live. */
    if (hubfix_start(&H, argv[1], HOST, &reg))
        return 1;
    snprintf(dir, sizeof dir, "%s", H.dir);
    base_port = H.mqtt;
    /* The hub's CA serves both brokers. */
    snprintf(cmd, sizeof cmd, "cp '%s'/ca.crt '%s'/server.crt '%s'/server.key '%s'/", H.hubdir,
             H.hubdir, H.hubdir, dir);
    if (system(cmd))
        return 1;
    /* Devices for the storm threads and the idle clients; the same ids and
     * passwords (the same tokens) go into the password file of the peer. */
    snprintf(pw, sizeof pw, "%s/passwd", dir);
    FILE *pf = fopen(pw, "w");
    for (int i = 0; i < idle + THREADS; i++) {
        reg_device d = {0}, out;
        snprintf(d.device_id, sizeof d.device_id, "dev%d", i);
        d.enabled = true;
        registry_device_put(reg, &d, NULL, &out, NULL);
        cid[i] = strdup(d.device_id);
        pass[i] = device_token(out.primary_key, d.device_id, 7200);
        user[i] = malloc(300);
        snprintf(user[i], 300, HOST "/%s/?api-version=2021-04-12", d.device_id);
        ppass[i] = strdup("peer-password-of-reasonable-length");
        fprintf(pf, "%s:%s\n", d.device_id, ppass[i]);
    }
    fclose(pf);
    bench_checks(reg, 5000);
    registry_close(&reg);
    snprintf(cmd, sizeof cmd, "mosquitto_passwd -U '%s'", pw);
    if (system(cmd))
        return 1;

    /* The peer: stock mosquitto, password file, same certificates. */
    snprintf(conf, sizeof conf, "%s/peer.conf", dir);
    FILE *cf = fopen(conf, "w");
    fprintf(cf,
            "per_listener_settings false\nallow_anonymous false\npassword_file %s\nuser root\n"
            "set_tcp_nodelay true\n"
            "log_dest stderr\nlog_type error\n"
            "listener %u 127.0.0.1\ncertfile %s/server.crt\nkeyfile %s/server.key\n"
            "listener %u 127.0.0.1\n",
            pw, base_port + 3, dir, dir, base_port + 4);
    fclose(cf);
    snprintf(logp, sizeof logp, "%s/peer.log", dir);
    char *pargv[] = {"mosquitto", "-c", conf, NULL};
    pid_t peer = spawn(pargv, logp);
    sleep(1);
    pid_t hub_mosq = hubfix_broker_pid(&H);

    struct storm ours = {base_port, true, connects, true, NULL, NULL, 0};
    struct storm theirs = {base_port + 3, true, connects, false, NULL, NULL, 0};
    char *ouser[THREADS], *opass[THREADS], *ocid[THREADS], *tpass[THREADS];
    for (int t = 0; t < THREADS; t++) {
        ocid[t] = cid[idle + t];
        opass[t] = pass[idle + t];
        tpass[t] = ppass[idle + t];
        ouser[t] = user[idle + t];
    }
    ours.cid = ocid;
    ours.pass = opass;
    theirs.cid = ocid;
    theirs.pass = tpass;
    (void)ouser;
    double r_ours = 0, r_theirs = 0;
    for (int round = 0; round < 2; round++) {
        r_theirs += run_storm(&theirs);
        r_ours += run_storm(&ours);
    }
    printf("connect storm, TLS, %d threads, %d connects each run (2 runs, alternating):\n", THREADS,
           connects);
    printf("  tpmiot-hub (SAS token, plugin):        %8.1f connects/s (%d failed)\n", r_ours / 2,
           ours.failures);
    printf("  mosquitto + password file:             %8.1f connects/s (%d failed)\n", r_theirs / 2,
           theirs.failures);
    printf("  ratio:                                 %8.3f   (aim >= 0.9)\n\n", r_ours / r_theirs);

    char topic[300];
    snprintf(topic, sizeof topic, "devices/%s/messages/events/k=v", cid[idle]);
    double t_ours = 0, t_theirs = 0;
    for (int round = 0; round < 2; round++) {
        t_theirs += run_throughput(base_port + 4, cid[idle], cid[idle], ppass[idle], topic, msgs);
        t_ours += run_throughput(base_port + 2, cid[idle], user[idle], pass[idle], topic, msgs);
    }
    printf("device-to-cloud QoS 1, %d messages of 200 bytes, window 20 (2 runs):\n", msgs);
    printf("  tpmiot-hub:                            %8.0f msg/s\n", t_ours / 2);
    printf("  plain mosquitto, no plugin:            %8.0f msg/s\n", t_theirs / 2);
    printf("  ratio:                                 %8.3f   (aim >= 0.9)\n\n", t_ours / t_theirs);

    long m_ours = idle_memory(hub_mosq, base_port, true, idle, cid, user, pass);
    long m_theirs = idle_memory(peer, base_port + 3, true, idle, cid, cid, ppass);
    printf("memory per connected idle device (TLS, %d clients, broker RSS delta):\n", idle);
    printf("  tpmiot-hub:                            %8.1f KiB\n", (double)m_ours / idle);
    printf("  mosquitto + password file:             %8.1f KiB\n", (double)m_theirs / idle);

    stop(peer);
    hubfix_stop(&H);
    return 0;
}
