/* tpmiot-hub run: mosquitto with our plugin, plus the REST API, until SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tpmiot/tpmiot.h>

#include "hub.h"

#ifndef TPMIOT_PLUGIN_DIR
#define TPMIOT_PLUGIN_DIR "/usr/lib/tpmiot"
#endif

static const char usage[] =
    "usage: tpmiot-hub run --dir DIR [--mqtt-port P] [--rest-port P] [--plain-mqtt-port P]\n"
    "                      [--bind ADDR]\n"
    "\n"
    "Runs the hub in DIR: Mosquitto with the tpmiot plugin (MQTT over TLS, default\n"
    "port 8883; a plain listener only with --plain-mqtt-port) and the REST API over\n"
    "HTTPS (default 8443), on ADDR (default 0.0.0.0). Devices trust DIR/ca.crt.\n"
    "Logs to stderr; SIGTERM or SIGINT stops both.\n";

/* The plugin next to this binary (build tree), then the installed one. */
static int find_plugin(char *out, size_t len)
{
    static const char *rel[] = {"/tpmiot_auth.so", "/../plugin/tpmiot_auth.so",
                                "/../lib/tpmiot/tpmiot_auth.so"};
    char exe[PATH_MAX];
    const char *env = getenv("TPMIOT_HUB_PLUGIN");
    ssize_t n;
    struct stat st;

    if (env && *env) {
        snprintf(out, len, "%s", env);
        return stat(out, &st);
    }
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            snprintf(out, len, "%s%s", exe, rel[i]);
            if (stat(out, &st) == 0)
                return 0;
        }
    }
    snprintf(out, len, "%s/tpmiot_auth.so", TPMIOT_PLUGIN_DIR);
    return stat(out, &st);
}

static int write_conf(const char *dir, const char *host, const char *plugin, const char *bind,
                      unsigned mqtt, unsigned plain)
{
    char path[600], tmp[620];
    struct passwd *pw = getpwuid(geteuid());
    FILE *f;

    snprintf(path, sizeof path, "%s/mosquitto.conf", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(f = fopen(tmp, "w")))
        return -1;
    fprintf(f,
            "# Written by tpmiot-hub run at every start; edits are lost.\n"
            "per_listener_settings false\n"
            "allow_anonymous false\n"
            "user %s\n"
            "persistence true\n"
            "persistence_location %s/mosquitto/\n"
            "autosave_interval 30\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            "connection_messages true\n"
            "max_inflight_messages 20\n"
            "max_queued_messages 1000\n"
            "set_tcp_nodelay true\n"
            "plugin %s\n"
            "plugin_opt_registry %s/registry.db\n"
            "plugin_opt_hostname %s\n"
            "\nlistener %u %s\n"
            "max_qos 1\n"
            "certfile %s/server.crt\n"
            "keyfile %s/server.key\n"
            "tls_version tlsv1.2\n",
            pw ? pw->pw_name : "root", dir, plugin, dir, host, mqtt, bind, dir, dir);
    if (plain)
        fprintf(f, "\nlistener %u %s\nmax_qos 1\n", plain, bind);
    if (fclose(f))
        return -1;
    return rename(tmp, path);
}

/* Whether something listens on TCP port (IPv4 or IPv6), read from /proc so as
 * not to open a connection the broker would log as a failed TLS handshake. */
static bool port_listening(unsigned port)
{
    static const char *files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    char line[512], want[8];

    snprintf(want, sizeof want, ":%04X", port);
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f)
            continue;
        while (fgets(line, sizeof line, f)) {
            char local[80], remote[80];
            unsigned state;
            if (sscanf(line, " %*d: %79s %79s %x", local, remote, &state) != 3)
                continue;
            const char *colon = strrchr(local, ':');
            if (state == 0x0A && colon && !strcmp(colon, want)) {
                fclose(f);
                return true;
            }
        }
        fclose(f);
    }
    return false;
}

static bool parse_port(const char *s, unsigned *out)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (!*s || *end || v < 1 || v > 65535)
        return false;
    *out = (unsigned)v;
    return true;
}

int cmd_run(const struct hub_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"mqtt-port", required_argument, NULL, 'm'},
                                         {"rest-port", required_argument, NULL, 'r'},
                                         {"plain-mqtt-port", required_argument, NULL, 'p'},
                                         {"bind", required_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    unsigned mqtt = HUB_DEFAULT_MQTT_PORT, rest_port = HUB_DEFAULT_REST_PORT, plain = 0;
    const char *bind = "0.0.0.0";
    char host[256], plugin[PATH_MAX], path[600], why[300], runf[600] = "";
    hub_registry *reg = NULL;
    struct rest *rest = NULL;
    struct rest_config rc;
    sigset_t set;
    pid_t mosq;
    int c, status, ret = HUB_FAIL;
    bool mosq_alive = true;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm': ok = parse_port(optarg, &mqtt); break;
        case 'r': ok = parse_port(optarg, &rest_port); break;
        case 'p': ok = parse_port(optarg, &plain); break;
        case 'b': bind = optarg; break;
        case 'h': fputs(usage, stdout); return HUB_OK;
        default:
            fprintf(stderr, "tpmiot-hub run: unknown option or missing value: '%s' (see --help)\n",
                    argv[optind - 1]);
            return HUB_USAGE;
        }
        if (!ok) {
            fprintf(stderr, "tpmiot-hub run: '%s' is not a port number\n", optarg);
            return HUB_USAGE;
        }
    }
    if (!o->dir || optind != argc) {
        fprintf(stderr, "tpmiot-hub run: needs --dir DIR (see --help)\n");
        return HUB_USAGE;
    }
    if (mqtt == rest_port || (plain && (plain == mqtt || plain == rest_port))) {
        fprintf(stderr, "tpmiot-hub run: the ports must differ\n");
        return HUB_USAGE;
    }
    snprintf(path, sizeof path, "%s/registry.db", o->dir);
    if (registry_open(&reg, path, false) || registry_meta_get(reg, "hostname", host, sizeof host)) {
        fprintf(stderr, "tpmiot-hub run: no hub in %s (create one with `tpmiot-hub init`)\n",
                o->dir);
        registry_close(&reg);
        return HUB_FAIL;
    }
    registry_close(&reg);
    unsigned ports[3] = {mqtt, rest_port, plain};
    for (int i = 0; i < 3; i++)
        if (ports[i] && hub_port_taken(bind, ports[i])) {
            fprintf(stderr,
                    "tpmiot-hub run: port %u on %s is already in use; pick another with "
                    "--%s\n",
                    ports[i], bind,
                    i == 0   ? "mqtt-port"
                    : i == 1 ? "rest-port"
                             : "plain-mqtt-port");
            return HUB_FAIL;
        }
    if (find_plugin(plugin, sizeof plugin)) {
        fprintf(stderr, "tpmiot-hub run: cannot find tpmiot_auth.so (set TPMIOT_HUB_PLUGIN)\n");
        return HUB_FAIL;
    }
    snprintf(path, sizeof path, "%s/mosquitto", o->dir);
    mkdir(path, 0700);
    if (write_conf(o->dir, host, plugin, bind, mqtt, plain)) {
        fprintf(stderr, "tpmiot-hub run: cannot write %s/mosquitto.conf\n", o->dir);
        return HUB_FAIL;
    }

    /* Signals are taken synchronously below; the child gets the defaults back. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    snprintf(path, sizeof path, "%s/mosquitto.conf", o->dir);
    mosq = fork();
    if (mosq == 0) {
        const char *bin = getenv("TPMIOT_MOSQUITTO");
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        /* If we die, even by SIGKILL, mosquitto goes with us. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execlp(bin && *bin ? bin : "mosquitto", "mosquitto", "-c", path, (char *)NULL);
        fprintf(stderr, "tpmiot-hub: cannot run mosquitto: %s (install the mosquitto package)\n",
                strerror(errno));
        _exit(127);
    }
    if (mosq < 0) {
        fprintf(stderr, "tpmiot-hub run: fork: %s\n", strerror(errno));
        return HUB_FAIL;
    }
    for (int i = 0; i < 200 && !port_listening(mqtt); i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        if (waitpid(mosq, &status, WNOHANG) == mosq) {
            mosq_alive = false;
            fprintf(stderr, "tpmiot-hub run: mosquitto exited at start (see its messages above)\n");
            goto stop;
        }
        nanosleep(&ts, NULL);
    }
    if (!port_listening(mqtt)) {
        fprintf(stderr, "tpmiot-hub run: mosquitto does not listen on %u\n", mqtt);
        goto stop;
    }
    rc = (struct rest_config){o->dir, host, bind, rest_port, mqtt};
    if (rest_start(&rest, &rc, why, sizeof why)) {
        fprintf(stderr, "tpmiot-hub run: %s\n", why);
        goto stop;
    }
    snprintf(runf, sizeof runf, "%s/run.json", o->dir);
    FILE *f = fopen(runf, "w");
    if (f) {
        fprintf(f,
                "{\"hostname\":\"%s\",\"mqttPort\":%u,\"restPort\":%u,\"plainMqttPort\":%u,"
                "\"pid\":%ld}\n",
                host, mqtt, rest_port, plain, (long)getpid());
        fclose(f);
    }
    fprintf(stderr, "tpmiot-hub: %s running: mqtts://%s:%u, https://%s:%u%s; CA %s/ca.crt\n", host,
            bind, mqtt, bind, rest_port, plain ? " (plain MQTT too)" : "", o->dir);
    for (;;) {
        siginfo_t si;
        if (sigwaitinfo(&set, &si) < 0)
            continue;
        if (si.si_signo == SIGCHLD) {
            if (waitpid(mosq, &status, WNOHANG) == mosq) {
                mosq_alive = false;
                fprintf(stderr, "tpmiot-hub: mosquitto exited; stopping\n");
                break;
            }
            continue;
        }
        fprintf(stderr, "tpmiot-hub: %s; stopping\n",
                si.si_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        ret = HUB_OK;
        break;
    }
stop:
    if (runf[0])
        unlink(runf);
    rest_stop(&rest);
    if (mosq_alive) {
        kill(mosq, SIGTERM);
        for (int i = 0; i < 200; i++) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            if (waitpid(mosq, &status, WNOHANG) == mosq) {
                mosq_alive = false;
                break;
            }
            nanosleep(&ts, NULL);
        }
        if (mosq_alive) {
            kill(mosq, SIGKILL);
            waitpid(mosq, &status, 0);
        }
    }
    return ret;
}
