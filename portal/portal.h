/* The device portal: a local HTTPS page and JSON API for the TPM slots. */
#ifndef TPMIOT_PORTAL_H
#define TPMIOT_PORTAL_H

#include <stdbool.h>

struct portal_config {
    const char *tcti;       /* NULL: the usual resolution */
    const char *listen;     /* ADDR:PORT */
    const char *cert, *key; /* PEM files, or NULL: a self-signed pair in state_dir */
    const char *state_dir;  /* password file, generated certificate */
    unsigned idle_timeout;  /* seconds of inactivity before a session ends */
};

/* Runs until SIGINT/SIGTERM; prints its own errors; returns an exit status. */
int portal_run(const struct portal_config *c);

/* Reads a password from stdin and stores its PBKDF2 hash (mode 0600). */
int portal_set_password(const char *state_dir);

extern const char portal_page_html[];

#endif
