/* Shared by the tpmiot subcommands. Built on the public API only. */
#ifndef TPMIOT_CLI_H
#define TPMIOT_CLI_H

#include <stdbool.h>
#include <getopt.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <tpmiot/tpmiot.h>

/* Exit statuses. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct cli {
    const char *tcti; /* --tcti, or NULL */
    bool json;        /* --json */
};

/* One line on stderr: "tpmiot: what: why". Returns EXIT_FAIL. */
int cli_fail(const char *what, tpmiot_rc rc);
/* Like cli_fail, adding the TPM's own words when rc came from the TPM. */
int cli_fail_tpm(const tpmiot_tpm *t, const char *what, tpmiot_rc rc);
/* A usage error: message plus the hint to --help. Returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Opens the TPM from --tcti / the usual resolution; prints the error itself. */
int cli_open(const struct cli *c, tpmiot_tpm **t);

/* "0".."9" into *slot; prints a usage error otherwise. */
int cli_slot_arg(const char *cmd, const char *arg, unsigned *slot);
/* A non-negative decimal; false on anything else. */
bool cli_parse_u64(const char *s, uint64_t *out);

/*
 * Reads a whole file ("-" = stdin) of at most max bytes into a new buffer
 * (NUL-terminated, *len without NUL). For secrets: the caller wipes it
 * with cli_free_secret(). Prints the error itself and returns NULL.
 */
char *cli_read_file(const char *path, size_t max, size_t *len);
void cli_free_secret(char *buf, size_t len);

/* Prints obj as one line of JSON on stdout and deletes it. */
void cli_print_json(cJSON *obj);

/*
 * getopt_long with exact long names only: no abbreviations, so that a
 * mistyped `--key SECRET` is refused rather than read as `--key-file SECRET`
 * (and the secret echoed in "cannot open"). Errors name the option only,
 * never its value. Returns getopt_long's value, or '?' after printing a
 * usage error (then *ret holds EXIT_USAGE). Start with optind set.
 */
int cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
               const struct option *opts, int *ret);

/*
 * Takes the global options (--tcti, --json; anywhere on the line) out of
 * argv into *c and the rest into rest[0..*n) (room for 251). EXIT_USAGE
 * after printing the error.
 */
int cli_globals(int argc, char **argv, struct cli *c, char **rest, int *n);

/* Does argv[1] (after the command name) ask for help? */
bool cli_wants_help(int argc, char **argv);

int cmd_tpm(const struct cli *c, int argc, char **argv);
int cmd_simulator(const struct cli *c, int argc, char **argv);
int cmd_slot(const struct cli *c, int argc, char **argv);
int cmd_token(const struct cli *c, int argc, char **argv);
int cmd_hmac(const struct cli *c, int argc, char **argv);
int cmd_verify(const struct cli *c, int argc, char **argv);
int cmd_send(const struct cli *c, int argc, char **argv);
int cmd_listen(const struct cli *c, int argc, char **argv);
int cmd_provision(const struct cli *c, int argc, char **argv);
int cmd_portal(const struct cli *c, int argc, char **argv);

#endif
