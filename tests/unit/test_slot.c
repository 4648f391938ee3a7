/* Slots over the in-memory TPM: provisioning, reading, tokens, wiping, and a
 * crash at every state-changing TPM command of every kind of change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <tpmiot/tpmiot.h>

#include "tpm/fake.h"

static struct tpm__fake *fresh(void)
{
    struct tpm__fake *f = calloc(1, sizeof *f);
    assert_non_null(f);
    return f;
}

static tpmiot_tpm *open_fake(struct tpm__fake *f)
{
    tpmiot_tpm *t = NULL;
    assert_int_equal(tpm__fake_open(&t, f), TPMIOT_OK);
    return t;
}

static void key_fill(uint8_t *k, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        k[i] = (uint8_t)(seed * 31 + i);
}

static void provision(tpmiot_tpm *t, unsigned slot, const char *h, const char *d, const char *m,
                      uint8_t seed)
{
    uint8_t k[32];
    tpmiot_identity id = {h, d, m};

    key_fill(k, sizeof k, seed);
    assert_int_equal(tpmiot_slot_provision(t, slot, &id, k, sizeof k), TPMIOT_OK);
}

static void test_provision_read_destroy(void **state)
{
    struct tpm__fake *f = fresh();
    tpmiot_tpm *t = open_fake(f);
    tpmiot_slot_info info, all[TPMIOT_SLOT_COUNT];

    (void)state;
    assert_int_equal(tpmiot_slot_info_get(t, 4, &info), TPMIOT_OK);
    assert_false(info.key_present);
    assert_false(info.uri_present);
    provision(t, 4, "hub.example", "dev4", NULL, 1);
    provision(t, 9, "hub.example", "dev9", "mod", 2);
    assert_true(f->srk);
    assert_int_equal(tpmiot_slot_info_get(t, 4, &info), TPMIOT_OK);
    assert_true(info.key_present && info.uri_present);
    assert_string_equal(info.hostname, "hub.example");
    assert_string_equal(info.device_id, "dev4");
    assert_string_equal(info.module_id, "");
    assert_int_equal(tpmiot_slot_list(t, all), TPMIOT_OK);
    for (unsigned s = 0; s < TPMIOT_SLOT_COUNT; s++) {
        assert_int_equal(all[s].slot, s);
        assert_int_equal(all[s].key_present, s == 4 || s == 9);
    }
    assert_string_equal(all[9].module_id, "mod");
    /* No journal is left behind by a completed change. */
    uint32_t h[10];
    size_t n = 99;
    assert_int_equal(tpm__fake_backend.handles(t, 0x01400180, 10, h, &n), TPMIOT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tpmiot_slot_destroy(t, 4), TPMIOT_OK);
    assert_int_equal(tpmiot_slot_info_get(t, 4, &info), TPMIOT_OK);
    assert_false(info.key_present || info.uri_present);
    assert_int_equal(tpmiot_slot_destroy(t, 4), TPMIOT_OK); /* empty is fine */
    assert_int_equal(tpmiot_slot_info_get(t, 10, &info), TPMIOT_E_SLOT_RANGE);
    assert_int_equal(tpmiot_slot_destroy(t, 10), TPMIOT_E_SLOT_RANGE);
    tpmiot_tpm_close(&t);
    assert_null(t);
    free(f);
}

static void test_all_ten_slots(void **state)
{
    struct tpm__fake *f = fresh();
    tpmiot_tpm *t = open_fake(f);
    tpmiot_slot_info all[TPMIOT_SLOT_COUNT];
    char dev[16];

    (void)state;
    for (unsigned s = 0; s < TPMIOT_SLOT_COUNT; s++) {
        snprintf(dev, sizeof dev, "device-%u", s);
        provision(t, s, "h.example", dev, NULL, (uint8_t)s);
    }
    tpmiot_tpm_close(&t);
    t = open_fake(f);
    assert_int_equal(tpmiot_slot_list(t, all), TPMIOT_OK);
    for (unsigned s = 0; s < TPMIOT_SLOT_COUNT; s++) {
        snprintf(dev, sizeof dev, "device-%u", s);
        assert_string_equal(all[s].device_id, dev);
    }
    tpmiot_tpm_close(&t);
    free(f);
}

static void test_key_wiped_every_path(void **state)
{
    struct tpm__fake *f = fresh();
    tpmiot_tpm *t = open_fake(f);
    static const uint8_t zero[64];
    uint8_t k[64];
    tpmiot_identity ok = {"h.example", "d", NULL}, bad = {"bad host", "d", NULL},
                    modonly = {"h.example", NULL, "m"}, baddev = {"h.example", "d d", NULL};

    (void)state;
#define TRY(slot, id, len, want)                                                                   \
    do {                                                                                           \
        key_fill(k, sizeof k, 7);                                                                  \
        assert_int_equal(tpmiot_slot_provision(t, slot, id, k, len), want);                        \
        assert_memory_equal(k, zero, len);                                                         \
    } while (0)
    TRY(0, &ok, 32, TPMIOT_OK);
    TRY(0, &bad, 32, TPMIOT_E_BAD_HOSTNAME);
    TRY(0, &modonly, 32, TPMIOT_E_BAD_MODULE_ID);
    TRY(0, &baddev, 32, TPMIOT_E_BAD_DEVICE_ID);
    TRY(10, &ok, 32, TPMIOT_E_SLOT_RANGE);
    TRY(0, &ok, 15, TPMIOT_E_BAD_KEY);
    TRY(0, &ok, 64, TPMIOT_OK);
    TRY(0, NULL, 32, TPMIOT_E_INVALID_ARG);
    f->dead = true; /* the TPM fails every command */
    TRY(1, &ok, 32, TPMIOT_E_TPM);
    f->dead = false;
#undef TRY
    tpmiot_tpm_close(&t);
    free(f);
}

static void test_connstr_provisioning(void **state)
{
    struct tpm__fake *f = fresh();
    tpmiot_tpm *t = open_fake(f);
    tpmiot_slot_info info;
    char cs[256];
    static const struct {
        const char *s;
        tpmiot_rc rc;
    } cases[] = {
        {"HostName=h.example;DeviceId=d;SharedAccessKey=AAECAwQFBgcICQoLDA0ODw==", TPMIOT_OK},
        {"HostName=h.example;DeviceId=d;ModuleId=m;SharedAccessKey=AAECAwQFBgcICQoLDA0ODw==",
         TPMIOT_OK},
        {"HostName=h.example;SharedAccessKey=AAECAwQFBgcICQoLDA0ODw==", TPMIOT_E_CONNSTR_MISSING},
        {"HostName=h.example;DeviceId=d", TPMIOT_E_CONNSTR_MISSING},
        {"HostName=h.example;DeviceId=d;SharedAccessKey=AAECAwQFBgcICQoLDA0O", TPMIOT_E_BAD_KEY},
        {"HostName=h.example;DeviceId=d;SharedAccessKey=not*base64", TPMIOT_E_BAD_KEY},
        {"HostName=h.example;DeviceId=d;SharedAccessKey=AAECAwQFBgcICQoLDA0ODw==;DeviceId=e",
         TPMIOT_E_CONNSTR_DUP},
        {"HostName=h.example;DeviceId=d;SharedAccessKey=" /* 65 bytes */
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
         "AAAAAAA=",
         TPMIOT_E_BAD_KEY},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cs, sizeof cs, "%s", cases[i].s);
        size_t n = strlen(cs);
        tpmiot_rc rc = tpmiot_slot_provision_connstr(t, 2, cs);
        if (rc != cases[i].rc)
            fail_msg("case %zu: got %d want %d", i, rc, cases[i].rc);
        for (size_t j = 0; j < n; j++)
            assert_int_equal(cs[j], 0); /* the caller's string is wiped */
    }
    assert_int_equal(tpmiot_slot_info_get(t, 2, &info), TPMIOT_OK);
    assert_string_equal(info.module_id, "m"); /* the last good one won; failures changed nothing */
    tpmiot_tpm_close(&t);
    free(f);
}

static void test_hw_device_id(void **state)
{
    struct tpm__fake *f = fresh();
    tpmiot_tpm *t = open_fake(f);
    tpmiot_slot_info info;
    char a[65], b[65];
    tpmiot_signer *s;

    (void)state;
    assert_int_equal(tpmiot_slot_hw_device_id(t, 0, a), TPMIOT_E_SLOT_EMPTY); /* no SRK yet */
    provision(t, 3, "h.example", NULL, NULL, 3);
    assert_int_equal(tpmiot_slot_hw_device_id(t, 3, a), TPMIOT_OK);
    assert_int_equal(strlen(a), 64);
    assert_int_equal(strspn(a, "0123456789abcdef"), 64);
    assert_int_equal(tpmiot_slot_hw_device_id(t, 4, b), TPMIOT_OK);
    assert_string_not_equal(a, b); /* per slot */
    assert_int_equal(tpmiot_slot_info_get(t, 3, &info), TPMIOT_OK);
    assert_true(info.device_id_derived);
    assert_string_equal(info.device_id, a);
    tpmiot_tpm_close(&t);
    t = open_fake(f); /* stable across restarts */
    assert_int_equal(tpmiot_slot_hw_device_id(t, 3, b), TPMIOT_OK);
    assert_string_equal(a, b);
    assert_int_equal(tpmiot_signer_from_slot(&s, t, 3), TPMIOT_OK);
    assert_string_equal(tpmiot_signer_device_id(s), a);
    tpmiot_signer_free(&s);
    tpmiot_tpm_close(&t);
    free(f);
}

static void check_hmac(tpmiot_tpm *t, unsigned slot, uint8_t seed, size_t len)
{
    uint8_t k[32], mac[32], want[32], *data = malloc(len + 1);
    unsigned int n = 32;

    key_fill(k, sizeof k, seed);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 7);
    HMAC(EVP_sha256(), k, sizeof k, data, len, want, &n);
    assert_int_equal(tpmiot_slot_hmac(t, slot, data, len, mac), TPMIOT_OK);
    assert_memory_equal(mac, want, 32);
    free(data);
}

static void test_hmac_lengths(void **state)
{
    struct tpm__fake *f = fresh();
    tpmiot_tpm *t = open_fake(f);
    uint8_t mac[32];

    (void)state;
    provision(t, 1, "h.example", "d", NULL, 11);
    for (size_t len = 0; len < 3; len++)
        check_hmac(t, 1, 11, len);
    check_hmac(t, 1, 11, 1024);
    check_hmac(t, 1, 11, 1025);
    check_hmac(t, 1, 11, 100000);
    assert_int_equal(tpmiot_slot_hmac(t, 2, "x", 1, mac), TPMIOT_E_SLOT_EMPTY);
    assert_int_equal(tpmiot_slot_hmac(t, 12, "x", 1, mac), TPMIOT_E_SLOT_RANGE);
    tpmiot_tpm_close(&t);
    free(f);
}

static void test_one_command_per_token(void **state)
{
    struct tpm__fake *f = fresh();
    tpmiot_tpm *t = open_fake(f);
    tpmiot_signer *s = NULL;
    char *tok;

    (void)state;
    provision(t, 5, "h.example", "d5", NULL, 5);
    assert_int_equal(tpmiot_signer_from_slot(&s, t, 5), TPMIOT_OK);
    for (int i = 0; i < 3; i++) {
        unsigned before = f->commands;
        assert_int_equal(tpmiot_sas_build(s, NULL, &tok), TPMIOT_OK);
        assert_int_equal(f->commands - before, 1);
        tpmiot_free(tok);
    }
    tpmiot_signer_free(&s);
    assert_int_equal(tpmiot_signer_from_slot(&s, t, 6), TPMIOT_E_SLOT_EMPTY);
    tpmiot_tpm_close(&t);
    free(f);
}

static void test_tpm_signer_matches_memory_signer(void **state)
{
    struct tpm__fake *f = fresh();
    tpmiot_tpm *t = open_fake(f);
    tpmiot_signer *ts = NULL, *ms = NULL;
    tpmiot_sas_options o = {.expiry = 2000000000, .encoded_resource = true};
    tpmiot_identity id = {"h.example", "dev", "mod"};
    uint8_t k[32];
    char *a, *b;

    (void)state;
    provision(t, 0, "h.example", "dev", "mod", 9);
    key_fill(k, sizeof k, 9);
    assert_int_equal(tpmiot_signer_from_key(&ms, &id, k, sizeof k), TPMIOT_OK);
    assert_int_equal(tpmiot_signer_from_slot(&ts, t, 0), TPMIOT_OK);
    assert_int_equal(tpmiot_sas_build(ts, &o, &a), TPMIOT_OK);
    assert_int_equal(tpmiot_sas_build(ms, &o, &b), TPMIOT_OK);
    assert_string_equal(a, b);
    assert_int_equal(tpmiot_sas_verify(ms, a, 1), TPMIOT_OK);
    tpmiot_free(a);
    tpmiot_free(b);
    tpmiot_signer_free(&ts);
    tpmiot_signer_free(&ms);
    tpmiot_tpm_close(&t);
    free(f);
}

/* ---- crash at every step ---- */

struct crash {
    struct tpm__fake *f;
    int left; /* mutations to allow before dying; <0: never */
};

static bool crash_hook(void *arg)
{
    struct crash *c = arg;

    if (c->left < 0)
        return false;
    if (c->left-- == 0) {
        c->f->dead = true;
        return true;
    }
    return false;
}

/* What a slot may be after a crash: exactly this identity with this key. */
struct expect {
    bool empty;
    const char *host, *dev, *mod;
    uint8_t seed;
};

static bool slot_is(tpmiot_tpm *t, unsigned slot, const struct expect *e)
{
    tpmiot_slot_info info;
    uint8_t k[32], mac[32], want[32];
    unsigned int n = 32;

    if (tpmiot_slot_info_get(t, slot, &info))
        return false;
    if (e->empty)
        return !info.key_present && !info.uri_present;
    if (!info.key_present || !info.uri_present || strcmp(info.hostname, e->host) ||
        strcmp(info.device_id, e->dev) || strcmp(info.module_id, e->mod ? e->mod : ""))
        return false;
    /* The key behind the URI must be the one that came with it. */
    key_fill(k, sizeof k, e->seed);
    HMAC(EVP_sha256(), k, sizeof k, (const uint8_t *)"probe", 5, want, &n);
    return !tpmiot_slot_hmac(t, slot, "probe", 5, mac) && !memcmp(mac, want, 32);
}

enum change { TO_NEW, DESTROY };

/* A second process that dies at recovery mutation j: a handle without the
 * automatic recovery of open, so the hook is in place before it runs. */
static bool crash_recovery(struct tpm__fake *f, int j)
{
    tpmiot_tpm *t = calloc(1, sizeof *t);
    struct crash c = {f, j};
    bool done;

    assert_non_null(t);
    t->be = &tpm__fake_backend;
    t->impl = f;
    tpm__set_fault_hook(t, crash_hook, &c);
    slot__recover(t, 6);
    done = !f->dead;
    tpmiot_tpm_close(&t);
    f->dead = false;
    return done;
}

/*
 * Sets up `old` in slot 6, runs the change and kills the TPM's user at its
 * mutation k; when j >= 0 the next process dies at recovery mutation j. Then
 * a clean open must show exactly old or new. Returns whether the change ran
 * to its end before k (*rec_done: whether the recovery did before j).
 */
static bool crash_once(const struct expect *old, enum change ch, const struct expect *new, int k,
                       int j, bool *rec_done, int *saw_old, int *saw_new)
{
    struct tpm__fake *f = fresh();
    tpmiot_tpm *t = open_fake(f);
    struct crash c = {f, k};
    tpmiot_rc rc;
    bool done;

    if (!old->empty)
        provision(t, 6, old->host, old->dev, old->mod, old->seed);
    tpm__set_fault_hook(t, crash_hook, &c);
    if (ch == DESTROY) {
        rc = tpmiot_slot_destroy(t, 6);
    } else {
        uint8_t key[32];
        tpmiot_identity id = {new->host, new->dev, new->mod};
        key_fill(key, sizeof key, new->seed);
        rc = tpmiot_slot_provision(t, 6, &id, key, sizeof key);
    }
    done = !f->dead;
    assert_int_equal(rc, done ? TPMIOT_OK : TPMIOT_E_TPM);
    tpmiot_tpm_close(&t);
    f->dead = false; /* the machine comes back */
    if (rec_done)
        *rec_done = j < 0 || done || crash_recovery(f, j);
    t = open_fake(f);
    if (slot_is(t, 6, old))
        (*saw_old)++;
    else if (slot_is(t, 6, new))
        (*saw_new)++;
    else
        fail_msg("after a crash at step %d (recovery step %d) the slot is neither old nor new", k,
                 j);
    tpmiot_tpm_close(&t);
    free(f);
    return done;
}

static void run_crashes(const struct expect *old, enum change ch, const struct expect *new,
                        const char *what)
{
    int saw_old = 0, saw_new = 0, k;

    for (k = 0; k < 100; k++)
        if (crash_once(old, ch, new, k, -1, NULL, &saw_old, &saw_new))
            break;
    assert_true(k < 100);
    /* Both outcomes happen: the early crashes keep the old slot, the late ones
     * (after the journal is written) finish the change on the next open. The
     * last run is the one that was not cut. */
    if (!saw_old || saw_new < 2)
        fail_msg("%s: old %d, new %d of %d crash points", what, saw_old, saw_new - 1, k);
    print_message("%s: %d crash points, %d kept the old slot, %d finished the new one\n", what, k,
                  saw_old, saw_new - 1);
}

static void test_crash_provision_empty(void **state)
{
    struct expect old = {.empty = true}, new = {false, "h.example", "new", NULL, 2};

    (void)state;
    run_crashes(&old, TO_NEW, &new, "provision empty slot");
}

static void test_crash_provision_over(void **state)
{
    struct expect old = {false, "old.example", "old", "mod", 1},
                  new = {false, "h.example", "new", NULL, 2};

    (void)state;
    run_crashes(&old, TO_NEW, &new, "provision over a slot");
}

static void test_crash_destroy(void **state)
{
    struct expect old = {false, "old.example", "old", NULL, 1}, new = {.empty = true};

    (void)state;
    run_crashes(&old, DESTROY, &new, "destroy");
}

/* A crash inside the recovery itself: recovery must be restartable. */
static void test_crash_during_recovery(void **state)
{
    struct expect old = {false, "old.example", "old", "m", 1},
                  new = {false, "h.example", "new", NULL, 2};
    int saw_old = 0, saw_new = 0, pairs = 0;

    (void)state;
    for (int k = 0; k < 100; k++) {
        bool rec_done = false, done = false;
        for (int j = 0; j < 100 && !rec_done && !done; j++, pairs++)
            done = crash_once(&old, TO_NEW, &new, k, j, &rec_done, &saw_old, &saw_new);
        if (done)
            break;
    }
    print_message("double crashes: %d pairs, old %d, new %d\n", pairs, saw_old, saw_new);
    assert_true(pairs > 20 && saw_old > 0 && saw_new > 0);
}

static void test_torn_or_foreign_journal(void **state)
{
    struct tpm__fake *f = fresh();
    tpmiot_tpm *t = open_fake(f);
    struct expect old = {false, "old.example", "old", NULL, 1};
    uint8_t junk[100];

    (void)state;
    provision(t, 6, old.host, old.dev, NULL, old.seed);
    memset(junk, 0x42, sizeof junk);
    assert_int_equal(tpm__fake_backend.nv_write(t, 0x01400186, junk, sizeof junk), TPMIOT_OK);
    tpmiot_tpm_close(&t);
    t = open_fake(f);
    assert_true(slot_is(t, 6, &old));
    uint32_t h[1];
    size_t n = 9;
    assert_int_equal(tpm__fake_backend.handles(t, 0x01400186, 1, h, &n), TPMIOT_OK);
    assert_int_equal(n, 0); /* dropped */
    tpmiot_tpm_close(&t);
    free(f);
}

static void test_resolve_tcti(void **state)
{
    char out[256];

    (void)state;
    assert_int_equal(
        tpm__resolve_tcti("mssim:port=1", "swtpm:path=/x", "/dev/null", NULL, out, sizeof out),
        TPMIOT_OK);
    assert_string_equal(out, "mssim:port=1");
    assert_int_equal(tpm__resolve_tcti(NULL, "swtpm:path=/x", "/dev/null", NULL, out, sizeof out),
                     TPMIOT_OK);
    assert_string_equal(out, "swtpm:path=/x");
    /* /dev/null stands in for a present /dev/tpmrm0: we never touch a real one. */
    assert_int_equal(tpm__resolve_tcti("", "", "/dev/null", NULL, out, sizeof out), TPMIOT_OK);
    assert_string_equal(out, "device:/dev/null");
    assert_int_equal(
        tpm__resolve_tcti(NULL, NULL, "/nonexistent/tpmrm0", "/nonexistent/sock", out, sizeof out),
        TPMIOT_E_NO_TPM);
    /* A regular file is no simulator socket. */
    assert_int_equal(
        tpm__resolve_tcti(NULL, NULL, "/nonexistent", "/etc/hostname", out, sizeof out),
        TPMIOT_E_NO_TPM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_provision_read_destroy),
        cmocka_unit_test(test_all_ten_slots),
        cmocka_unit_test(test_key_wiped_every_path),
        cmocka_unit_test(test_connstr_provisioning),
        cmocka_unit_test(test_hw_device_id),
        cmocka_unit_test(test_hmac_lengths),
        cmocka_unit_test(test_one_command_per_token),
        cmocka_unit_test(test_tpm_signer_matches_memory_signer),
        cmocka_unit_test(test_crash_provision_empty),
        cmocka_unit_test(test_crash_provision_over),
        cmocka_unit_test(test_crash_destroy),
        cmocka_unit_test(test_crash_during_recovery),
        cmocka_unit_test(test_torn_or_foreign_journal),
        cmocka_unit_test(test_resolve_tcti),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
