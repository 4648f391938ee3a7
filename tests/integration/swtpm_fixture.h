/* A swtpm of the test's own, in a temporary directory, stopped on every path. */
#ifndef TPMIOT_SWTPM_FIXTURE_H
#define TPMIOT_SWTPM_FIXTURE_H

struct swtpm_fixture {
    char dir[256];
    char tcti[600];
};

/* Starts swtpm in a new mkdtemp directory; 0 on success. */
int swtpm_fixture_start(struct swtpm_fixture *f);
/* Stops it, keeping the state (for restart tests). */
int swtpm_fixture_restart(struct swtpm_fixture *f);
/* Stops it and removes the directory. */
void swtpm_fixture_stop(struct swtpm_fixture *f);

#endif
