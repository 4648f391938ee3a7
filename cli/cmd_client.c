/* tpmiot send N / tpmiot listen N: the device client on the command line. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char send_usage[] =
    "usage: tpmiot send N [--prop k=v]... [--message-id ID] [--correlation-id ID]\n"
    "                     [--content-type T] [--content-encoding E] [--qos 0|1] MESSAGE\n"
    "       tpmiot send --connection-string-file F [options] MESSAGE\n"
    "\n"
    "Sends device-to-cloud messages as slot N's device, with tokens from the TPM.\n"
    "MESSAGE `-` sends each line of stdin as a message (and, with empty stdin, just\n"
    "what an earlier run left queued). Messages go through a durable queue\n"
    "(--queue-dir, default $XDG_STATE_HOME/tpmiot/queue/HOST_DEVICE; --no-queue\n"
    "for memory only): one that was accepted is sent until the hub acknowledges it,\n"
    "also by a later run. Exit status 0 only when the hub acknowledged all of them\n"
    "within --timeout seconds (default 30).\n"
    "Connection: --ca-file F, --port P (8883), --gateway-host H, --keepalive S,\n"
    "--token-ttl S (3600), --no-sync (queue without fdatasync), --verbose.\n";

static const char listen_usage[] =
    "usage: tpmiot listen N [--count N] [--timeout S] [connection options]\n"
    "       tpmiot listen --connection-string-file F ...\n"
    "\n"
    "Prints cloud-to-device messages as they arrive (with --json one line each:\n"
    "{\"payload\":..,\"properties\":{..},\"messageId\":..}) until interrupted, or\n"
    "after --count messages or --timeout seconds. Options as for `tpmiot send`.\n";

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

struct run {
    const struct cli *cli;
    bool verbose, listen;
    long count, seen;
};

static void on_status(tpmiot_status s, const char *why, unsigned retry_ms, void *arg)
{
    struct run *r = arg;

    switch (s) {
    case TPMIOT_STATUS_CONNECTED: fprintf(stderr, "tpmiot: connected\n"); break;
    case TPMIOT_STATUS_TOKEN_RENEWED: fprintf(stderr, "tpmiot: token renewed\n"); break;
    case TPMIOT_STATUS_RETRYING:
        fprintf(stderr, "tpmiot: %s; retrying in %.1f s\n", why, retry_ms / 1000.0);
        break;
    case TPMIOT_STATUS_BAD_CREDENTIALS:
        fprintf(stderr, "tpmiot: bad credentials: %s; retrying in %.1f s\n", why,
                retry_ms / 1000.0);
        break;
    case TPMIOT_STATUS_STOPPED:
        if (r->verbose)
            fprintf(stderr, "tpmiot: stopped\n");
        break;
    }
}

static void on_message(const tpmiot_message *m, void *arg)
{
    struct run *r = arg;

    if (r->cli->json) {
        cJSON *j = cJSON_CreateObject(), *p;
        char *pl = malloc(m->len + 1);
        if (pl) {
            memcpy(pl, m->payload, m->len);
            pl[m->len] = '\0';
            cJSON_AddStringToObject(j, "payload", pl);
            free(pl);
        }
        p = cJSON_AddObjectToObject(j, "properties");
        for (size_t i = 0; i < m->nprops; i++)
            cJSON_AddStringToObject(p, m->props[i].key, m->props[i].value);
        if (m->message_id)
            cJSON_AddStringToObject(j, "messageId", m->message_id);
        if (m->correlation_id)
            cJSON_AddStringToObject(j, "correlationId", m->correlation_id);
        if (m->content_type)
            cJSON_AddStringToObject(j, "contentType", m->content_type);
        if (m->content_encoding)
            cJSON_AddStringToObject(j, "contentEncoding", m->content_encoding);
        cli_print_json(j);
    } else {
        printf("%.*s", (int)m->len, (const char *)m->payload);
        for (size_t i = 0; i < m->nprops; i++)
            printf("%s%s=%s", i ? " " : " | ", m->props[i].key, m->props[i].value);
        if (m->message_id)
            printf(" ($.mid=%s)", m->message_id);
        putchar('\n');
    }
    fflush(stdout);
    if (r->count && ++r->seen >= r->count)
        interrupted = 1;
}

struct args {
    const char *slot_arg, *cs_file, *message, *message_id, *correlation_id, *content_type,
        *content_encoding, *queue_dir;
    tpmiot_prop props[64];
    size_t nprops;
    long qos, timeout, count;
    bool no_queue, verbose;
    tpmiot_client_options o;
};

static bool parse_num(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int parse(const char *cmd, int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {{"prop", required_argument, NULL, 'p'},
                                         {"message-id", required_argument, NULL, 'i'},
                                         {"correlation-id", required_argument, NULL, 'c'},
                                         {"content-type", required_argument, NULL, 't'},
                                         {"content-encoding", required_argument, NULL, 'e'},
                                         {"qos", required_argument, NULL, 'q'},
                                         {"ca-file", required_argument, NULL, 'a'},
                                         {"port", required_argument, NULL, 'P'},
                                         {"gateway-host", required_argument, NULL, 'g'},
                                         {"connection-string-file", required_argument, NULL, 'C'},
                                         {"queue-dir", required_argument, NULL, 'Q'},
                                         {"no-queue", no_argument, NULL, 'N'},
                                         {"no-sync", no_argument, NULL, 'S'},
                                         {"keepalive", required_argument, NULL, 'k'},
                                         {"token-ttl", required_argument, NULL, 'T'},
                                         {"timeout", required_argument, NULL, 'w'},
                                         {"count", required_argument, NULL, 'n'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {NULL, 0, NULL, 0}};
    int o, ret = EXIT_USAGE;
    long v;

    a->qos = 1;
    a->timeout = 30;
    optind = 1;
    while ((o = cli_getopt(cmd, argc, argv, "-", opts, &ret)) != -1) {
        switch (o) {
        case 1:
            if (!a->slot_arg && !a->cs_file &&
                (strcmp(cmd, "send") || argv[optind - 1][0] != '-' || argv[optind - 1][1]))
                a->slot_arg = optarg;
            else if (!strcmp(cmd, "send") && !a->message)
                a->message = optarg;
            else
                return cli_usage_error(cmd, "unexpected argument '%s'", optarg);
            break;
        case 'p': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || a->nprops >= 60)
                return cli_usage_error(cmd, "--prop takes key=value (at most 60)");
            *eq = '\0';
            a->props[a->nprops++] = (tpmiot_prop){optarg, eq + 1};
            break;
        }
        case 'i': a->message_id = optarg; break;
        case 'c': a->correlation_id = optarg; break;
        case 't': a->content_type = optarg; break;
        case 'e': a->content_encoding = optarg; break;
        case 'q':
            if (!parse_num(optarg, 0, 1, &a->qos))
                return cli_usage_error(cmd, "--qos is 0 or 1 (the hub refuses 2)");
            break;
        case 'a': a->o.ca_file = optarg; break;
        case 'P':
            if (!parse_num(optarg, 1, 65535, &v))
                return cli_usage_error(cmd, "--port needs a port number");
            a->o.port = (unsigned)v;
            break;
        case 'g': a->o.gateway_host = optarg; break;
        case 'C': a->cs_file = optarg; break;
        case 'Q': a->queue_dir = optarg; break;
        case 'N': a->no_queue = true; break;
        case 'S': a->o.queue_no_sync = true; break;
        case 'k':
            if (!parse_num(optarg, 5, 3600, &v))
                return cli_usage_error(cmd, "--keepalive is 5 to 3600 seconds");
            a->o.keepalive = (unsigned)v;
            break;
        case 'T':
            if (!parse_num(optarg, 5, 366L * 86400, &v))
                return cli_usage_error(cmd, "--token-ttl is 5 s to 366 days");
            a->o.token_ttl = (unsigned)v;
            break;
        case 'w':
            if (!parse_num(optarg, 0, 86400 * 365, &a->timeout))
                return cli_usage_error(cmd, "--timeout needs seconds");
            break;
        case 'n':
            if (!parse_num(optarg, 1, 1L << 30, &a->count))
                return cli_usage_error(cmd, "--count needs a positive number");
            break;
        case 'v': a->verbose = true; break;
        default: return ret;
        }
    }
    /* With a connection string the first free argument is the message. */
    if (a->cs_file && a->slot_arg && !a->message && !strcmp(cmd, "send")) {
        a->message = a->slot_arg;
        a->slot_arg = NULL;
    }
    return EXIT_OK;
}

/* mkdir -p of path's parents (mode 0700); the queue makes the last part. */
static void mkdir_parents(const char *path)
{
    char tmp[1100];

    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(tmp, 0700);
        *p = '/';
    }
}

/* Makes the client; prints the error itself. */
static int make_client(const struct cli *c, const char *cmd, struct args *a, tpmiot_tpm **t,
                       tpmiot_client **cl, bool with_queue)
{
    char host[256] = "", dev[260] = "", qdir[1100];
    unsigned slot = 0;
    tpmiot_rc rc;
    int ret;

    if (a->cs_file && a->slot_arg)
        return cli_usage_error(cmd, "give a slot or --connection-string-file, not both");
    if (!a->cs_file && (ret = cli_slot_arg(cmd, a->slot_arg, &slot)))
        return ret;
    char *cs = NULL;
    size_t cslen = 0;
    if (a->cs_file) {
        tpmiot_connstr p;
        if (!(cs = cli_read_file(a->cs_file, 4096, &cslen)))
            return EXIT_FAIL;
        if ((rc = tpmiot_connstr_parse(cs, &p))) {
            cli_free_secret(cs, cslen);
            return cli_fail("bad connection string", rc);
        }
        snprintf(host, sizeof host, "%s", p.host_name);
        snprintf(dev, sizeof dev, "%s%s%s", p.device_id, p.module_id[0] ? "_" : "", p.module_id);
        tpmiot_connstr_wipe(&p);
    } else {
        tpmiot_slot_info info;
        if ((ret = cli_open(c, t)))
            return ret;
        if ((rc = tpmiot_slot_info_get(*t, slot, &info)))
            return cli_fail_tpm(*t, "cannot read the slot", rc);
        snprintf(host, sizeof host, "%s", info.hostname);
        snprintf(dev, sizeof dev, "%s%s%s", info.device_id, info.module_id[0] ? "_" : "",
                 info.module_id);
    }
    if (with_queue && !a->no_queue) {
        if (a->queue_dir) {
            snprintf(qdir, sizeof qdir, "%s", a->queue_dir);
        } else {
            char base[460];
            if ((rc = tpmiot_state_dir(base, sizeof base))) {
                cli_free_secret(cs, cslen);
                return cli_fail("cannot find the state directory", rc);
            }
            /* One queue per identity: messages name their device in their topic. */
            snprintf(qdir, sizeof qdir, "%s/queue/%s_%s", base, host, dev);
            mkdir_parents(qdir);
        }
        a->o.queue_dir = qdir;
    }
    rc = cs ? tpmiot_client_from_connstr(cl, cs, &a->o)
            : tpmiot_client_from_slot(cl, *t, slot, &a->o);
    cli_free_secret(cs, cslen);
    if (rc)
        return cli_fail_tpm(
            *t, rc == TPMIOT_E_IO ? "cannot open the queue directory" : "cannot create the client",
            rc);
    return EXIT_OK;
}

int cmd_send(const struct cli *c, int argc, char **argv)
{
    struct args a = {0};
    struct run r = {c, false, false, 0, 0};
    tpmiot_tpm *t = NULL;
    tpmiot_client *cl = NULL;
    long sent = 0;
    int ret;
    tpmiot_rc rc;

    if (cli_wants_help(argc, argv)) {
        fputs(send_usage, stdout);
        return EXIT_OK;
    }
    if ((ret = parse("send", argc, argv, &a)))
        return ret;
    if (!a.message)
        return cli_usage_error("send", "missing MESSAGE (or - for stdin lines)");
    r.verbose = a.verbose;
    if ((ret = make_client(c, "send", &a, &t, &cl, true)))
        goto out;
    tpmiot_client_on_status(cl, on_status, &r);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if ((rc = tpmiot_client_start(cl))) {
        ret = cli_fail("cannot start the client", rc);
        goto out;
    }
    tpmiot_message m = {.props = a.props,
                        .nprops = a.nprops,
                        .message_id = a.message_id,
                        .correlation_id = a.correlation_id,
                        .content_type = a.content_type,
                        .content_encoding = a.content_encoding};
    if (strcmp(a.message, "-")) {
        m.payload = a.message;
        m.len = strlen(a.message);
        if ((rc = tpmiot_client_send(cl, &m, (int)a.qos, NULL, 0))) {
            ret = cli_fail("cannot queue the message", rc);
            goto out;
        }
        sent = 1;
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        /* Unbuffered: every byte taken from the pipe belongs to a line that is
         * accepted (on disk) before the next is read, so a kill loses nothing
         * this process consumed. The cost, a read per byte, is small next to
         * a sync per message. */
        setvbuf(stdin, NULL, _IONBF, 0);
        while (!interrupted && (n = getline(&line, &cap, stdin)) >= 0) {
            if (n && line[n - 1] == '\n')
                line[--n] = '\0';
            m.payload = line;
            m.len = (size_t)n;
            m.message_id = NULL; /* one id per message */
            /* A full queue pushes back on the reader; nothing is dropped. */
            while ((rc = tpmiot_client_send(cl, &m, (int)a.qos, NULL, 0)) == TPMIOT_E_QUEUE_FULL &&
                   !interrupted)
                tpmiot_client_flush(cl, 100);
            if (rc) {
                ret = cli_fail("cannot queue a message", rc);
                free(line);
                goto out;
            }
            sent++;
        }
        free(line);
    }
    rc = tpmiot_client_flush(cl, (unsigned)a.timeout * 1000);
    size_t left = tpmiot_client_pending(cl);
    if (rc || left) {
        fprintf(stderr,
                "tpmiot: %zu message(s) not acknowledged within %ld s; they stay queued%s\n", left,
                a.timeout, a.no_queue ? " in memory only and are lost now" : " for the next run");
        ret = EXIT_FAIL;
    } else {
        if (a.verbose || c->json)
            fprintf(stderr, "tpmiot: %ld message(s) acknowledged by the hub\n", sent);
        ret = EXIT_OK;
    }
    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "queued", (double)sent);
        cJSON_AddNumberToObject(j, "unacknowledged", (double)left);
        cli_print_json(j);
    }
out:
    tpmiot_client_destroy(&cl);
    tpmiot_tpm_close(&t);
    return ret;
}

int cmd_listen(const struct cli *c, int argc, char **argv)
{
    struct args a = {0};
    struct run r = {c, false, true, 0, 0};
    tpmiot_tpm *t = NULL;
    tpmiot_client *cl = NULL;
    time_t start = time(NULL);
    int ret;
    tpmiot_rc rc;

    if (cli_wants_help(argc, argv)) {
        fputs(listen_usage, stdout);
        return EXIT_OK;
    }
    if ((ret = parse("listen", argc, argv, &a)))
        return ret;
    if (a.nprops || a.message_id || a.content_type)
        return cli_usage_error("listen", "message options belong to `tpmiot send`");
    r.count = a.count;
    r.verbose = a.verbose;
    if ((ret = make_client(c, "listen", &a, &t, &cl, false)))
        goto out;
    tpmiot_client_on_status(cl, on_status, &r);
    tpmiot_client_on_message(cl, on_message, &r);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if ((rc = tpmiot_client_start(cl))) {
        ret = cli_fail("cannot start the client", rc);
        goto out;
    }
    /* --timeout bounds listen only when given; the default waits forever. */
    bool bounded = false;
    for (int i = 1; i < argc; i++)
        bounded |= !strcmp(argv[i], "--timeout");
    while (!interrupted && (!bounded || time(NULL) - start < a.timeout))
        usleep(50000);
    ret = (a.count && r.seen < a.count) ? EXIT_FAIL : EXIT_OK;
out:
    tpmiot_client_destroy(&cl);
    tpmiot_tpm_close(&t);
    return ret;
}
