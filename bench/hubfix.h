/* A throwaway tpmiot-hub for benchmarks: a directory, random ports, a child process. */
#ifndef TPMIOT_BENCH_HUBFIX_H
#define TPMIOT_BENCH_HUBFIX_H

#include <sys/types.h>

#include "registry.h"

struct hubfix {
    char dir[128], hubdir[160], log[200];
    unsigned mqtt, rest, plain; /* ports */
    pid_t pid;                  /* tpmiot-hub run */
};

/* init + run; 0 when the hub is up. The registry is opened for the caller. */
int hubfix_start(struct hubfix *h, const char *hub_bin, const char *hostname, hub_registry **reg);
/* The mosquitto the hub runs, for memory readings. */
pid_t hubfix_broker_pid(const struct hubfix *h);
void hubfix_stop(struct hubfix *h);
double hubfix_now(void);

#endif
