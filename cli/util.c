/* Helpers shared by the subcommands: errors, files, JSON, argument parsing. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_fail(const char *what, tpmiot_rc rc)
{
    fprintf(stderr, "tpmiot: %s: %s\n", what, tpmiot_strerror(rc));
    return EXIT_FAIL;
}

int cli_fail_tpm(const tpmiot_tpm *t, const char *what, tpmiot_rc rc)
{
    char cause[256];

    if (rc != TPMIOT_E_TPM && rc != TPMIOT_E_TCTI)
        return cli_fail(what, rc);
    fprintf(stderr, "tpmiot: %s: %s (%s)\n", what, tpmiot_strerror(rc),
            tpmiot_tpm_last_cause(t, cause, sizeof cause));
    return EXIT_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "tpmiot %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see `tpmiot %s --help`)\n", cmd);
    return EXIT_USAGE;
}

int cli_open(const struct cli *c, tpmiot_tpm **t)
{
    tpmiot_rc rc = tpmiot_tpm_open(t, c->tcti);

    if (rc)
        return cli_fail_tpm(NULL, "cannot open the TPM", rc);
    return EXIT_OK;
}

int cli_slot_arg(const char *cmd, const char *arg, unsigned *slot)
{
    if (!arg)
        return cli_usage_error(cmd, "missing slot number");
    if (arg[0] < '0' || arg[0] > '9' || arg[1])
        return cli_usage_error(cmd, "slot must be a number from 0 to 9, not '%s'", arg);
    *slot = (unsigned)(arg[0] - '0');
    return EXIT_OK;
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

char *cli_read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    char *buf;
    size_t n = 0;

    if (!f) {
        fprintf(stderr, "tpmiot: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    if (!(buf = calloc(1, max + 2))) {
        if (f != stdin)
            fclose(f);
        fprintf(stderr, "tpmiot: out of memory\n");
        return NULL;
    }
    n = fread(buf, 1, max + 1, f);
    if (ferror(f) || n > max) {
        fprintf(stderr, "tpmiot: %s: %s\n", path, ferror(f) ? strerror(errno) : "file too large");
        cli_free_secret(buf, max + 2);
        buf = NULL;
    }
    if (f != stdin)
        fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

void cli_free_secret(char *buf, size_t len)
{
    if (!buf)
        return;
    tpmiot_wipe(buf, len);
    free(buf);
}

void cli_print_json(cJSON *obj)
{
    char *s = cJSON_PrintUnformatted(obj);

    if (s) {
        puts(s);
        cJSON_free(s);
    }
    cJSON_Delete(obj);
}

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return false;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    }
    return false;
}

int cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
               const struct option *opts, int *ret)
{
    int o, idx = -1;
    /* We use no short options and no permutation ('+' or '-' mode), so the
     * element getopt reads next is argv[optind]. */
    const char *arg = optind < argc ? argv[optind] : "";

    opterr = 0;
    o = getopt_long(argc, argv, shortopts, opts, &idx);
    if (o == -1 || o == 1)
        return o;
    if (o != '?' && o != ':' && idx >= 0 && !strncmp(arg, "--", 2)) {
        size_t n = strcspn(arg + 2, "=");
        if (strlen(opts[idx].name) == n && !strncmp(opts[idx].name, arg + 2, n))
            return o;
    }
    *ret = cli_usage_error(cmd, "unknown option or missing value: '%.*s'", (int)strcspn(arg, "="),
                           arg);
    return '?';
}

int cli_globals(int argc, char **argv, struct cli *c, char **rest, int *n)
{
    *n = 0;
    if (argc > 250) {
        fprintf(stderr, "tpmiot: too many arguments\n");
        return EXIT_USAGE;
    }
    /* Global options may stand anywhere, so `tpmiot slot list --json` works. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            while (i < argc)
                rest[(*n)++] = argv[i++];
            break;
        }
        if (!strcmp(argv[i], "--json")) {
            c->json = true;
        } else if (!strcmp(argv[i], "--tcti")) {
            if (++i == argc) {
                fprintf(stderr, "tpmiot: --tcti needs a value\n");
                return EXIT_USAGE;
            }
            c->tcti = argv[i];
        } else if (!strncmp(argv[i], "--tcti=", 7)) {
            c->tcti = argv[i] + 7;
        } else {
            rest[(*n)++] = argv[i];
        }
    }
    rest[*n] = NULL;
    return EXIT_OK;
}
