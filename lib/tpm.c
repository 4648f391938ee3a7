/* Opening and closing a TPM: TCTI resolution, handle life cycle, info. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tss2/tss2_rc.h>

#include <tpmiot/simulator.h>
#include "tpm_int.h"

tpmiot_rc tpm__resolve_tcti(const char *arg, const char *env, const char *device,
                            const char *sim_sock, char *out, size_t len)
{
    struct stat st;
    int n;

    if (arg && *arg)
        n = snprintf(out, len, "%s", arg);
    else if (env && *env)
        n = snprintf(out, len, "%s", env);
    else if (device && stat(device, &st) == 0)
        n = snprintf(out, len, "device:%s", device);
    else if (sim_sock && stat(sim_sock, &st) == 0 && S_ISSOCK(st.st_mode))
        n = snprintf(out, len, "swtpm:path=%s", sim_sock);
    else
        return TPMIOT_E_NO_TPM;
    if (n < 0 || (size_t)n >= len)
        return TPMIOT_E_INVALID_ARG;
    return TPMIOT_OK;
}

static _Thread_local uint32_t open_tss_rc;

void tpm__set_fault_hook(tpmiot_tpm *t, bool (*hook)(void *), void *arg)
{
    t->fault_hook = hook;
    t->fault_arg = arg;
}

/* A change interrupted by a crash is finished before anyone reads a slot. */
static tpmiot_rc recover_all(tpmiot_tpm *t)
{
    uint32_t h[TPMIOT_SLOT_COUNT];
    size_t n = 0;
    tpmiot_rc rc = t->be->handles(t, TPM_JOURNAL_NV_BASE, TPMIOT_SLOT_COUNT, h, &n);

    for (size_t i = 0; !rc && i < n; i++)
        rc = slot__recover(t, h[i] - TPM_JOURNAL_NV_BASE);
    return rc;
}

tpmiot_rc tpm__open_backend(tpmiot_tpm **out, const struct tpm__backend *be, void *impl,
                            const char *name)
{
    tpmiot_tpm *t;
    tpmiot_rc rc;

    if (!out)
        return TPMIOT_E_INVALID_ARG;
    *out = NULL;
    if (!(t = calloc(1, sizeof *t)))
        return TPMIOT_E_NOMEM;
    snprintf(t->tcti, sizeof t->tcti, "%s", name);
    t->be = be;
    t->impl = impl;
    if ((rc = recover_all(t))) {
        tpmiot_tpm_close(&t);
        return rc;
    }
    *out = t;
    return TPMIOT_OK;
}

tpmiot_rc tpmiot_tpm_open(tpmiot_tpm **out, const char *tcti_conf)
{
    char sim[480], sock[512] = "";
    tpmiot_tpm *t;
    tpmiot_rc rc;

    if (!out)
        return TPMIOT_E_INVALID_ARG;
    *out = NULL;
    open_tss_rc = 0;
    if (tpmiot_sim_default_dir(sim, sizeof sim) == TPMIOT_OK)
        snprintf(sock, sizeof sock, "%s/sock", sim);
    if (!(t = calloc(1, sizeof *t)))
        return TPMIOT_E_NOMEM;
    rc = tpm__resolve_tcti(tcti_conf, getenv("TPMIOT_TCTI"), "/dev/tpmrm0", sock, t->tcti,
                           sizeof t->tcti);
    if (!rc)
        rc = tpm__esys_open(t, t->tcti);
    if (!rc)
        rc = recover_all(t);
    if (rc) {
        /* A failed open leaves no handle to ask, so the cause is kept per
         * thread, like errno, for tpmiot_tpm_last_cause(NULL, ...). */
        open_tss_rc = t->last_tss_rc;
        tpmiot_tpm_close(&t);
        return rc;
    }
    *out = t;
    return TPMIOT_OK;
}

void tpmiot_tpm_close(tpmiot_tpm **t)
{
    if (!t || !*t)
        return;
    if ((*t)->be && (*t)->be->close)
        (*t)->be->close(*t);
    free(*t);
    *t = NULL;
}

const char *tpmiot_tpm_tcti(const tpmiot_tpm *t)
{
    return t ? t->tcti : "";
}

uint32_t tpmiot_tpm_last_tss_rc(const tpmiot_tpm *t)
{
    return t ? t->last_tss_rc : open_tss_rc;
}

const char *tpmiot_tpm_last_cause(const tpmiot_tpm *t, char *buf, size_t len)
{
    if (!buf || !len)
        return "";
    uint32_t rc = tpmiot_tpm_last_tss_rc(t);
    if (!rc)
        snprintf(buf, len, "no TPM error recorded");
    else
        snprintf(buf, len, "0x%08x: %s", rc, Tss2_RC_Decode(rc));
    return buf;
}

tpmiot_rc tpmiot_tpm_info_get(tpmiot_tpm *t, tpmiot_tpm_info *out)
{
    if (!t || !out)
        return TPMIOT_E_INVALID_ARG;
    return t->be->info(t, out);
}
