#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hubfix.h"

double hubfix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int hubfix_start(struct hubfix *h, const char *hub_bin, const char *hostname, hub_registry **reg)
{
    char cmd[700], db[220], mp[16], rp[16], pp[16], run[220];
    struct stat st;

    memset(h, 0, sizeof *h);
    snprintf(h->dir, sizeof h->dir, "/tmp/tpmiot-bench-XXXXXX");
    if (!mkdtemp(h->dir))
        return -1;
    snprintf(h->hubdir, sizeof h->hubdir, "%s/hub", h->dir);
    snprintf(cmd, sizeof cmd, "'%s' --dir '%s' init --hostname %s >/dev/null 2>&1", hub_bin,
             h->hubdir, hostname);
    if (system(cmd))
        return -1;
    snprintf(db, sizeof db, "%s/registry.db", h->hubdir);
    if (reg && registry_open(reg, db, false))
        return -1;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    h->mqtt = 30000 + (unsigned)(rand() % 20000);
    h->rest = h->mqtt + 1;
    h->plain = h->mqtt + 2;
    snprintf(mp, sizeof mp, "%u", h->mqtt);
    snprintf(rp, sizeof rp, "%u", h->rest);
    snprintf(pp, sizeof pp, "%u", h->plain);
    snprintf(h->log, sizeof h->log, "%s/hub.log", h->dir);
    h->pid = fork();
    if (h->pid == 0) {
        if (!freopen(h->log, "w", stderr))
            _exit(126);
        execl(hub_bin, hub_bin, "--dir", h->hubdir, "run", "--bind", "127.0.0.1", "--mqtt-port", mp,
              "--rest-port", rp, "--plain-mqtt-port", pp, (char *)NULL);
        _exit(127);
    }
    snprintf(run, sizeof run, "%s/run.json", h->hubdir);
    for (int i = 0; i < 100 && stat(run, &st); i++)
        usleep(100000);
    return stat(run, &st) ? -1 : 0;
}

pid_t hubfix_broker_pid(const struct hubfix *h)
{
    char cmd[300];
    long v = 0;
    FILE *p;

    snprintf(cmd, sizeof cmd, "pgrep -f 'mosquitto -c %s/mosquitto.conf'", h->hubdir);
    if ((p = popen(cmd, "r"))) {
        if (fscanf(p, "%ld", &v) != 1)
            v = 0;
        pclose(p);
    }
    return (pid_t)v;
}

void hubfix_stop(struct hubfix *h)
{
    char cmd[200];

    if (h->pid > 0) {
        kill(h->pid, SIGTERM);
        waitpid(h->pid, NULL, 0);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
    if (system(cmd))
        fprintf(stderr, "could not remove %s\n", h->dir);
}
