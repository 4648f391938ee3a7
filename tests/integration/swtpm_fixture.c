#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tpmiot/tpmiot.h>

#include "swtpm_fixture.h"

static struct swtpm_fixture *current;
static int watch_fd = -1;
static pid_t watch_pid = -1;

static void remove_dir(const char *dir)
{
    char cmd[300];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/*
 * A sanitizer abort or a SIGKILL from a test runner's timeout runs no atexit
 * handler. A watchdog process holds the read end of a pipe whose write end
 * only this process has: when it reads EOF, however this process ended, it
 * stops the swtpm and removes the directory.
 */
static void start_watchdog(const char *dir)
{
    int fds[2];

    if (pipe(fds))
        return;
    watch_pid = fork();
    if (watch_pid == 0) {
        char c;
        close(fds[1]);
        while (read(fds[0], &c, 1) > 0)
            ;
        tpmiot_sim_stop(dir);
        remove_dir(dir);
        _exit(0);
    }
    close(fds[0]);
    watch_fd = fds[1];
    fcntl(watch_fd, F_SETFD, FD_CLOEXEC);
}

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
    start_watchdog(f->dir);
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
    if (!f->dir[0])
        return;
    tpmiot_sim_stop(f->dir);
    remove_dir(f->dir);
    f->dir[0] = '\0';
    if (watch_fd >= 0) {
        close(watch_fd);
        watch_fd = -1;
        waitpid(watch_pid, NULL, 0);
    }
    if (current == f)
        current = NULL;
}
