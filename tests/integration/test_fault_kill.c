/*
 * kill -9 at every step of a slot change, against a real swtpm: a child
 * process provisions (or destroys) and SIGKILLs itself just before its k-th
 * state-changing TPM command; the parent, a new process, opens the TPM and
 * finds the slot exactly old or exactly new, its key matching its URI. Then
 * the same with a second kill in the middle of the recovery.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <tpmiot/tpmiot.h>

#include "swtpm_fixture.h"
#include "tpm_int.h"

#define SLOT 6

static struct swtpm_fixture fx;
static int kill_at;

static bool kill_hook(void *arg)
{
    (void)arg;
    if (kill_at-- == 0)
        raise(SIGKILL);
    return false;
}

struct identity {
    bool empty;
    const char *host, *dev, *mod;
    uint8_t seed;
};

static void key_fill(uint8_t *k, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        k[i] = (uint8_t)(seed * 29 + i);
}

static tpmiot_rc apply(tpmiot_tpm *t, const struct identity *id)
{
    uint8_t k[32];
    tpmiot_identity ti = {id->host, id->dev, id->mod};

    if (id->empty)
        return tpmiot_slot_destroy(t, SLOT);
    key_fill(k, sizeof k, id->seed);
    return tpmiot_slot_provision(t, SLOT, &ti, k, sizeof k);
}

static bool slot_is(tpmiot_tpm *t, const struct identity *e)
{
    tpmiot_slot_info info;
    uint8_t k[32], mac[32], want[32];
    unsigned int n = 32;

    if (tpmiot_slot_info_get(t, SLOT, &info))
        return false;
    if (e->empty)
        return !info.key_present && !info.uri_present;
    if (!info.key_present || !info.uri_present || strcmp(info.hostname, e->host) ||
        strcmp(info.device_id, e->dev) || strcmp(info.module_id, e->mod ? e->mod : ""))
        return false;
    key_fill(k, sizeof k, e->seed);
    HMAC(EVP_sha256(), k, sizeof k, (const uint8_t *)"probe", 5, want, &n);
    return !tpmiot_slot_hmac(t, SLOT, "probe", 5, mac) && !memcmp(mac, want, 32);
}

/* Runs fn in a child; true when the child was killed, false when it finished. */
static bool in_child(void (*fn)(int), int arg)
{
    pid_t pid = fork();
    int status;

    assert_true(pid >= 0);
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
        assert_int_equal(WTERMSIG(status), SIGKILL);
        return true;
    }
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status))
        fail_msg("child failed with %d", WEXITSTATUS(status));
    return false;
}

static const struct identity *change_to;

static void child_change(int k)
{
    tpmiot_tpm *t = NULL;

    if (tpmiot_tpm_open(&t, fx.tcti))
        _exit(3);
    kill_at = k;
    tpm__set_fault_hook(t, kill_hook, NULL);
    if (apply(t, change_to))
        _exit(4);
    tpmiot_tpm_close(&t);
}

/* A second process that dies in the recovery: hook set before recovery runs. */
static void child_recover(int j)
{
    tpmiot_tpm *t = calloc(1, sizeof *t);

    if (!t || tpm__esys_open(t, fx.tcti))
        _exit(5);
    kill_at = j;
    tpm__set_fault_hook(t, kill_hook, NULL);
    if (slot__recover(t, SLOT))
        _exit(6);
    tpmiot_tpm_close(&t);
}

static void reset_to(const struct identity *old)
{
    tpmiot_tpm *t = NULL;

    assert_int_equal(tpmiot_tpm_open(&t, fx.tcti), TPMIOT_OK);
    assert_int_equal(tpmiot_slot_destroy(t, SLOT), TPMIOT_OK);
    if (!old->empty)
        assert_int_equal(apply(t, old), TPMIOT_OK);
    tpmiot_tpm_close(&t);
}

/* 0 = old, 1 = new; fails the test otherwise. */
static int outcome(const struct identity *old, const struct identity *new, int k, int j)
{
    tpmiot_tpm *t = NULL;
    int r = -1;

    assert_int_equal(tpmiot_tpm_open(&t, fx.tcti), TPMIOT_OK);
    if (slot_is(t, old))
        r = 0;
    else if (slot_is(t, new))
        r = 1;
    else
        fail_msg("killed at step %d (recovery step %d): slot is neither old nor new", k, j);
    tpmiot_tpm_close(&t);
    return r;
}

static void run(const struct identity *old, const struct identity *new, const char *what)
{
    int saw[2] = {0, 0}, k;

    change_to = new;
    for (k = 0; k < 60; k++) {
        reset_to(old);
        if (!in_child(child_change, k))
            break;
        saw[outcome(old, new, k, -1)]++;
    }
    assert_true(k < 60);
    assert_int_equal(outcome(old, new, k, -1), 1);
    print_message("%s: killed at %d steps: %d kept the old slot, %d came back new\n", what, k,
                  saw[0], saw[1]);
    assert_true(saw[0] > 0 && saw[1] > 0);
}

static void test_kill_provision_empty(void **state)
{
    struct identity old = {.empty = true}, new = {false, "hub.example", "new-dev", NULL, 2};
    (void)state;
    run(&old, &new, "provision an empty slot");
}

static void test_kill_provision_over(void **state)
{
    struct identity old = {false, "old.example", "old-dev", "old-mod", 1},
                    new = {false, "hub.example", "new-dev", NULL, 2};
    (void)state;
    run(&old, &new, "provision over an identity");
}

static void test_kill_destroy(void **state)
{
    struct identity old = {false, "old.example", "old-dev", NULL, 1}, new = {.empty = true};
    (void)state;
    run(&old, &new, "destroy");
}

static void test_kill_during_recovery(void **state)
{
    struct identity old = {false, "old.example", "old-dev", NULL, 1},
                    new = {false, "hub.example", "new-dev", "m", 2};
    int pairs = 0, saw[2] = {0, 0};

    (void)state;
    change_to = &new;
    for (int k = 0; k < 60; k++) {
        bool killed = true;
        for (int j = 0; j < 60 && killed; j++) {
            reset_to(&old);
            if (!in_child(child_change, k))
                goto done;
            killed = in_child(child_recover, j);
            saw[outcome(&old, &new, k, j)]++;
            pairs++;
        }
    }
done:
    print_message("killed twice (change, then recovery): %d pairs, %d old, %d new\n", pairs, saw[0],
                  saw[1]);
    assert_true(pairs > 10 && saw[0] > 0 && saw[1] > 0);
}

static int setup(void **state)
{
    (void)state;
    return swtpm_fixture_start(&fx);
}

static int teardown(void **state)
{
    (void)state;
    swtpm_fixture_stop(&fx);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_provision_empty),
        cmocka_unit_test(test_kill_provision_over),
        cmocka_unit_test(test_kill_destroy),
        cmocka_unit_test(test_kill_during_recovery),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
