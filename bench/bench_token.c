/*
 * Tokens per second through libtpmiot on an open handle, against bare
 * Esys_HMAC calls on the same key over the same swtpm, in the same run.
 * Rounds alternate between the two so that drift hits both alike; the
 * medians are compared. Prints figures and the ratio; asserts nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>
#include <tpmiot/tpmiot.h>

#include "swtpm_fixture.h"

#define ROUNDS 7

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double lib_round(const char *tcti, int n)
{
    tpmiot_tpm *t = NULL;
    tpmiot_signer *s = NULL;
    tpmiot_sas_options o = {.ttl = 3600};
    double t0, dt;

    if (tpmiot_tpm_open(&t, tcti) || tpmiot_signer_from_slot(&s, t, 0))
        exit(1);
    t0 = now();
    for (int i = 0; i < n; i++) {
        char *tok;
        if (tpmiot_sas_build(s, &o, &tok))
            exit(1);
        tpmiot_free(tok);
    }
    dt = now() - t0;
    tpmiot_signer_free(&s);
    tpmiot_tpm_close(&t);
    return n / dt;
}

static double esys_round(const char *tcti, int n, size_t sts_len)
{
    TSS2_TCTI_CONTEXT *tc = NULL;
    ESYS_CONTEXT *ctx = NULL;
    ESYS_TR key;
    TPM2B_MAX_BUFFER buf = {.size = (UINT16)sts_len};
    double t0, dt;

    memset(buf.buffer, 'a', sts_len);
    if (Tss2_TctiLdr_Initialize(tcti, &tc) || Esys_Initialize(&ctx, tc, NULL) ||
        Esys_TR_FromTPMPublic(ctx, 0x81000100, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &key))
        exit(1);
    t0 = now();
    for (int i = 0; i < n; i++) {
        TPM2B_DIGEST *out = NULL;
        if (Esys_HMAC(ctx, key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &buf, TPM2_ALG_SHA256,
                      &out))
            exit(1);
        Esys_Free(out);
    }
    dt = now() - t0;
    Esys_TR_Close(ctx, &key);
    Esys_Finalize(&ctx);
    Tss2_TctiLdr_Finalize(&tc);
    return n / dt;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    struct swtpm_fixture fx = {0};
    double lib[ROUNDS], esys[ROUNDS];
    uint8_t key[32];
    tpmiot_tpm *t = NULL;
    tpmiot_identity id = {"bench-hub.example.net", "bench-device-0001", NULL};
    /* "bench-hub.example.net/devices/bench-device-0001\n" + 10 digits */
    size_t sts_len = strlen(id.hostname) + strlen("/devices/") + strlen(id.device_id) + 1 + 10;

    if (n < 10 || swtpm_fixture_start(&fx))
        return 1;
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)(i * 7 + 3);
    if (tpmiot_tpm_open(&t, fx.tcti) || tpmiot_slot_provision(t, 0, &id, key, sizeof key)) {
        swtpm_fixture_stop(&fx);
        return 1;
    }
    tpmiot_tpm_close(&t);
    lib_round(fx.tcti, n / 10); /* warm-up, both paths */
    esys_round(fx.tcti, n / 10, sts_len);
    for (int r = 0; r < ROUNDS; r++) {
        lib[r] = lib_round(fx.tcti, n);
        esys[r] = esys_round(fx.tcti, n, sts_len);
    }
    double l = median(lib, ROUNDS), e = median(esys, ROUNDS);
    printf("tokens through libtpmiot (open handle): %8.0f /s  (%.1f us each)\n", l, 1e6 / l);
    printf("bare Esys_HMAC, same key and length:    %8.0f /s  (%.1f us each)\n", e, 1e6 / e);
    printf("ratio library/bare:                     %8.3f   (target >= 0.9; %d rounds of %d)\n",
           l / e, ROUNDS, n);
    swtpm_fixture_stop(&fx);
    return 0;
}
