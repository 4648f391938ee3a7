#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tpmiot/tpmiot.h>

#include "swtpm_fixture.h"

static struct swtpm_fixture *current;

/* An assertion failure exits the test process; the swtpm must go with it. */
static void stop_at_exit(void)
{
    if (current)
        swtpm_fixture_stop(current);
}

int swtpm_fixture_start(struct swtpm_fixture *f)
{
    char why[512] = "";
    const char *tmp = getenv("TMPDIR");

    snprintf(f->dir, sizeof f->dir, "%s/tpmiot-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir))
        return -1;
    if (tpmiot_sim_start(f->dir, f->tcti, sizeof f->tcti, why, sizeof why)) {
        fprintf(stderr, "swtpm: %s\n", why);
        return -1;
    }
    if (!current)
        atexit(stop_at_exit);
    current = f;
    /* Never the host's TPM: every open in the tests goes through this. */
    setenv("TPMIOT_TCTI", f->tcti, 1);
    return 0;
}

int swtpm_fixture_restart(struct swtpm_fixture *f)
{
    char why[512] = "";

    if (tpmiot_sim_stop(f->dir))
        return -1;
    if (tpmiot_sim_start(f->dir, f->tcti, sizeof f->tcti, why, sizeof why)) {
        fprintf(stderr, "swtpm: %s\n", why);
        return -1;
    }
    return 0;
}

void swtpm_fixture_stop(struct swtpm_fixture *f)
{
    char cmd[300];

    if (!f->dir[0])
        return;
    tpmiot_sim_stop(f->dir);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    f->dir[0] = '\0';
    if (current == f)
        current = NULL;
}
