/* The software TPM: Debian's swtpm on a unix socket, state kept in a directory. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tpmiot/simulator.h>

__attribute__((format(printf, 3, 4))) static void say(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (!why || !len)
        return;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

tpmiot_rc tpmiot_state_dir(char *buf, size_t len)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int n;

    if (!buf || !len)
        return TPMIOT_E_INVALID_ARG;
    if (xdg && *xdg == '/')
        n = snprintf(buf, len, "%s/tpmiot", xdg);
    else if (geteuid() == 0)
        n = snprintf(buf, len, "/var/lib/tpmiot");
    else {
        if (!home || *home != '/') {
            struct passwd *pw = getpwuid(geteuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home)
            return TPMIOT_E_IO;
        n = snprintf(buf, len, "%s/.local/state/tpmiot", home);
    }
    return n < 0 || (size_t)n >= len ? TPMIOT_E_BUFFER_SMALL : TPMIOT_OK;
}

tpmiot_rc tpmiot_sim_default_dir(char *buf, size_t len)
{
    char base[460];
    tpmiot_rc rc = tpmiot_state_dir(base, sizeof base);

    if (rc)
        return rc;
    return (size_t)snprintf(buf, len, "%s/swtpm", base) >= len ? TPMIOT_E_BUFFER_SMALL : TPMIOT_OK;
}

static tpmiot_rc dir_of(const char *state_dir, char *dir, size_t len)
{
    if (!state_dir)
        return tpmiot_sim_default_dir(dir, len);
    /* Socket paths are limited to sizeof(sun_path); keep room for "/sock.ctrl". */
    if (!*state_dir || strlen(state_dir) + 11 > sizeof(((struct sockaddr_un *)0)->sun_path))
        return TPMIOT_E_INVALID_ARG;
    snprintf(dir, len, "%s", state_dir);
    return TPMIOT_OK;
}

static int mkdirs(const char *path, mode_t mode)
{
    char tmp[512];
    size_t n = strlen(path);

    if (n >= sizeof tmp)
        return -1;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) && errno != EEXIST)
        return -1;
    return 0;
}

static long read_pid(const char *dir)
{
    char path[600], buf[32] = "";
    FILE *f;
    long pid;

    snprintf(path, sizeof path, "%s/swtpm.pid", dir);
    if (!(f = fopen(path, "r")))
        return 0;
    if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
    fclose(f);
    pid = strtol(buf, NULL, 10);
    return pid > 1 ? pid : 0;
}

/* The pid file can outlive its process and the pid be reused: check the name. */
static bool is_swtpm(long pid)
{
    char path[64], comm[64] = "";
    FILE *f;

    if (pid <= 1 || kill((pid_t)pid, 0))
        return false;
    snprintf(path, sizeof path, "/proc/%ld/comm", pid);
    if (!(f = fopen(path, "r")))
        return false;
    if (!fgets(comm, sizeof comm, f))
        comm[0] = '\0';
    fclose(f);
    return !strncmp(comm, "swtpm", 5);
}

static bool sock_connects(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    if (fd < 0)
        return false;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

tpmiot_rc tpmiot_sim_status(const char *state_dir, bool *running, long *pid)
{
    char dir[480];
    long p;
    tpmiot_rc rc;

    if (!running)
        return TPMIOT_E_INVALID_ARG;
    if ((rc = dir_of(state_dir, dir, sizeof dir)))
        return rc;
    p = read_pid(dir);
    *running = is_swtpm(p);
    if (pid)
        *pid = *running ? p : 0;
    return TPMIOT_OK;
}

tpmiot_rc tpmiot_sim_start(const char *state_dir, char *tcti, size_t tcti_len, char *why,
                           size_t why_len)
{
    char dir[480], sock[512], ctrl[520], server[600], ctl[600], state[600], pidf[600], log[600];
    struct timespec ts = {0, 20 * 1000 * 1000};
    bool running;
    long pid;
    pid_t child;
    int status;
    tpmiot_rc rc;

    if (!tcti || !tcti_len)
        return TPMIOT_E_INVALID_ARG;
    if ((rc = dir_of(state_dir, dir, sizeof dir))) {
        say(why, why_len, "state directory path empty or too long for a socket");
        return rc;
    }
    snprintf(sock, sizeof sock, "%s/sock", dir);
    snprintf(ctrl, sizeof ctrl, "%s/sock.ctrl", dir);
    if (snprintf(tcti, tcti_len, "swtpm:path=%s", sock) >= (int)tcti_len)
        return TPMIOT_E_BUFFER_SMALL;
    if ((rc = tpmiot_sim_status(dir, &running, &pid)))
        return rc;
    if (running && sock_connects(sock))
        return TPMIOT_OK;
    if (running) {
        say(why, why_len,
            "swtpm (pid %ld) runs in %s but its socket does not answer; "
            "run `tpmiot simulator stop` first",
            pid, dir);
        return TPMIOT_E_SIMULATOR;
    }
    if (mkdirs(dir, 0700) || chmod(dir, 0700)) {
        say(why, why_len, "cannot create %s: %s", dir, strerror(errno));
        return TPMIOT_E_SIMULATOR;
    }
    /* Left over from a swtpm that was killed. */
    unlink(sock);
    unlink(ctrl);
    snprintf(server, sizeof server, "type=unixio,path=%s,mode=0600", sock);
    snprintf(ctl, sizeof ctl, "type=unixio,path=%s,mode=0600", ctrl);
    snprintf(state, sizeof state, "dir=%s,mode=0600", dir);
    snprintf(pidf, sizeof pidf, "file=%s/swtpm.pid", dir);
    snprintf(log, sizeof log, "file=%s/swtpm.log,level=1", dir);
    child = fork();
    if (child < 0) {
        say(why, why_len, "fork: %s", strerror(errno));
        return TPMIOT_E_SIMULATOR;
    }
    if (child == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
        }
        execlp("swtpm", "swtpm", "socket", "--tpm2", "--server", server, "--ctrl", ctl,
               "--tpmstate", state, "--flags", "not-need-init,startup-clear", "--pid", pidf,
               "--log", log, "--daemon", (char *)NULL);
        fprintf(stderr, "tpmiot: cannot run swtpm: %s (install the swtpm package)\n",
                strerror(errno));
        _exit(127);
    }
    /* With --daemon the child exits once the server is set up. */
    if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
        say(why, why_len, "swtpm failed to start (exit %d); see %s/swtpm.log",
            WIFEXITED(status) ? WEXITSTATUS(status) : -1, dir);
        return TPMIOT_E_SIMULATOR;
    }
    for (int i = 0; i < 250; i++) {
        if (sock_connects(sock))
            return TPMIOT_OK;
        nanosleep(&ts, NULL);
    }
    say(why, why_len, "swtpm started but %s does not answer; see %s/swtpm.log", sock, dir);
    return TPMIOT_E_SIMULATOR;
}

tpmiot_rc tpmiot_sim_stop(const char *state_dir)
{
    char dir[480], path[600];
    struct timespec ts = {0, 20 * 1000 * 1000};
    bool running;
    long pid;
    tpmiot_rc rc;

    if ((rc = dir_of(state_dir, dir, sizeof dir)))
        return rc;
    if ((rc = tpmiot_sim_status(dir, &running, &pid)))
        return rc;
    if (running) {
        /* swtpm writes its state on every change, so SIGTERM loses nothing. */
        kill((pid_t)pid, SIGTERM);
        for (int i = 0; i < 250 && is_swtpm(pid); i++)
            nanosleep(&ts, NULL);
        if (is_swtpm(pid)) {
            kill((pid_t)pid, SIGKILL);
            for (int i = 0; i < 50 && is_swtpm(pid); i++)
                nanosleep(&ts, NULL);
        }
        if (is_swtpm(pid))
            return TPMIOT_E_SIMULATOR;
    }
    snprintf(path, sizeof path, "%s/swtpm.pid", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/sock", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/sock.ctrl", dir);
    unlink(path);
    return TPMIOT_OK;
}
