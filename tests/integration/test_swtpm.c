/* libtpmiot against a real swtpm: slots, tokens, HMAC sizes, restarts, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <tpmiot/tpmiot.h>

#include "swtpm_fixture.h"
#include "vectors.h"

static struct swtpm_fixture fx;

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

static tpmiot_tpm *open_tpm(void)
{
    tpmiot_tpm *t = NULL;
    tpmiot_rc rc = tpmiot_tpm_open(&t, fx.tcti);
    if (rc)
        fail_msg("open: %s", tpmiot_strerror(rc));
    return t;
}

static void key_fill(uint8_t *k, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        k[i] = (uint8_t)(seed * 17 + i * 3);
}

static void provision(tpmiot_tpm *t, unsigned slot, const char *h, const char *d, uint8_t seed)
{
    uint8_t k[32];
    tpmiot_identity id = {h, d, NULL};
    tpmiot_rc rc;

    key_fill(k, sizeof k, seed);
    rc = tpmiot_slot_provision(t, slot, &id, k, sizeof k);
    if (rc) {
        char cause[256];
        fail_msg("provision %u: %s (%s)", slot, tpmiot_strerror(rc),
                 tpmiot_tpm_last_cause(t, cause, sizeof cause));
    }
}

static void verify_token(tpmiot_tpm *t, unsigned slot, const char *h, const char *d, uint8_t seed,
                         bool encoded)
{
    tpmiot_signer *ts = NULL, *ms = NULL;
    tpmiot_identity id = {h, d, NULL};
    tpmiot_sas_options o = {.ttl = 600, .encoded_resource = encoded};
    uint8_t k[32];
    char *tok = NULL;

    key_fill(k, sizeof k, seed);
    assert_int_equal(tpmiot_signer_from_slot(&ts, t, slot), TPMIOT_OK);
    assert_string_equal(tpmiot_signer_hostname(ts), h);
    assert_string_equal(tpmiot_signer_device_id(ts), d);
    assert_int_equal(tpmiot_sas_build(ts, &o, &tok), TPMIOT_OK);
    assert_int_equal(tpmiot_signer_from_key(&ms, &id, k, sizeof k), TPMIOT_OK);
    assert_int_equal(tpmiot_sas_verify(ms, tok, (uint64_t)time(NULL)), TPMIOT_OK);
    tpmiot_free(tok);
    tpmiot_signer_free(&ts);
    tpmiot_signer_free(&ms);
}

static void test_info(void **state)
{
    tpmiot_tpm *t = open_tpm();
    tpmiot_tpm_info info;

    (void)state;
    assert_int_equal(tpmiot_tpm_info_get(t, &info), TPMIOT_OK);
    assert_true(info.software);
    assert_string_equal(info.family, "2.0");
    assert_true(info.manufacturer[0] != '\0');
    tpmiot_tpm_close(&t);
}

static void test_provision_read_token_destroy(void **state)
{
    tpmiot_tpm *t = open_tpm();
    tpmiot_slot_info info;

    (void)state;
    provision(t, 0, "hub.example.net", "device-0", 1);
    assert_int_equal(tpmiot_slot_info_get(t, 0, &info), TPMIOT_OK);
    assert_true(info.key_present && info.uri_present);
    assert_string_equal(info.hostname, "hub.example.net");
    assert_string_equal(info.device_id, "device-0");
    verify_token(t, 0, "hub.example.net", "device-0", 1, false);
    verify_token(t, 0, "hub.example.net", "device-0", 1, true);
    /* Re-provisioning replaces identity and key. */
    provision(t, 0, "other.example.net", "device-0b", 2);
    verify_token(t, 0, "other.example.net", "device-0b", 2, false);
    assert_int_equal(tpmiot_slot_destroy(t, 0), TPMIOT_OK);
    assert_int_equal(tpmiot_slot_info_get(t, 0, &info), TPMIOT_OK);
    assert_false(info.key_present || info.uri_present);
    tpmiot_signer *s = NULL;
    assert_int_equal(tpmiot_signer_from_slot(&s, t, 0), TPMIOT_E_SLOT_EMPTY);
    tpmiot_tpm_close(&t);
}

static void hmac_len(tpmiot_tpm *t, size_t len)
{
    uint8_t k[32], mac[32], want[32], *data = malloc(len + 1);
    unsigned int n = 32;

    key_fill(k, sizeof k, 5);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 13 + 1);
    HMAC(EVP_sha256(), k, sizeof k, data, len, want, &n);
    assert_int_equal(tpmiot_slot_hmac(t, 5, data, len, mac), TPMIOT_OK);
    if (memcmp(mac, want, 32))
        fail_msg("HMAC of %zu bytes differs from OpenSSL's", len);
    free(data);
}

static void test_hmac_lengths(void **state)
{
    static const size_t lens[] = {0, 1, 1023, 1024, 1025, 2048, 2049, 100000};
    tpmiot_tpm *t = open_tpm();

    (void)state;
    provision(t, 5, "h.example", "d5", 5);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        hmac_len(t, lens[i]);
    tpmiot_tpm_close(&t);
}

static void test_all_slots_survive_restart(void **state)
{
    tpmiot_tpm *t = open_tpm();
    tpmiot_slot_info all[TPMIOT_SLOT_COUNT];
    char dev[32];

    (void)state;
    for (unsigned s = 0; s < TPMIOT_SLOT_COUNT; s++) {
        snprintf(dev, sizeof dev, "dev-%u", s);
        provision(t, s, "restart.example", dev, (uint8_t)(40 + s));
    }
    tpmiot_tpm_close(&t);
    assert_int_equal(swtpm_fixture_restart(&fx), 0);
    t = open_tpm();
    assert_int_equal(tpmiot_slot_list(t, all), TPMIOT_OK);
    for (unsigned s = 0; s < TPMIOT_SLOT_COUNT; s++) {
        snprintf(dev, sizeof dev, "dev-%u", s);
        assert_true(all[s].key_present);
        assert_string_equal(all[s].device_id, dev);
        verify_token(t, s, "restart.example", dev, (uint8_t)(40 + s), s % 2);
    }
    for (unsigned s = 0; s < TPMIOT_SLOT_COUNT; s++)
        assert_int_equal(tpmiot_slot_destroy(t, s), TPMIOT_OK);
    tpmiot_tpm_close(&t);
}

static void test_vectors_in_tpm(void **state)
{
    struct sas_vector v[32];
    int n = sas_vectors_load(SAS_VECTORS, v, 32), used = 0;
    tpmiot_tpm *t = open_tpm();

    (void)state;
    assert_true(n >= 5);
    for (int i = 0; i < n; i++) {
        uint8_t key[80], mac[32];
        size_t klen = sizeof key, blen = 64;
        char b64[64];
        tpmiot_identity id = {"vectors.example", "v", NULL};

        assert_int_equal(tpmiot_base64_decode(v[i].key_b64, strlen(v[i].key_b64), key, &klen),
                         TPMIOT_OK);
        if (klen < TPMIOT_KEY_MIN)
            continue; /* a slot refuses it; the unit test covers it in memory */
        assert_int_equal(tpmiot_slot_provision(t, 7, &id, key, klen), TPMIOT_OK);
        assert_int_equal(tpmiot_slot_hmac(t, 7, v[i].sts, v[i].sts_len, mac), TPMIOT_OK);
        tpmiot_base64_encode(mac, 32, b64, &blen);
        assert_string_equal(b64, v[i].sig_b64);
        used++;
    }
    assert_true(used >= 4);
    tpmiot_slot_destroy(t, 7);
    tpmiot_tpm_close(&t);
}

static void test_hw_id_stable(void **state)
{
    tpmiot_tpm *t = open_tpm();
    char a[65], b[65];
    tpmiot_slot_info info;

    (void)state;
    provision(t, 8, "h.example", "x", 8); /* ensures the SRK */
    assert_int_equal(tpmiot_slot_hw_device_id(t, 8, a), TPMIOT_OK);
    uint8_t k[32];
    key_fill(k, sizeof k, 9);
    tpmiot_identity id = {"h.example", NULL, NULL};
    assert_int_equal(tpmiot_slot_provision(t, 8, &id, k, sizeof k), TPMIOT_OK);
    tpmiot_tpm_close(&t);
    assert_int_equal(swtpm_fixture_restart(&fx), 0);
    t = open_tpm();
    assert_int_equal(tpmiot_slot_hw_device_id(t, 8, b), TPMIOT_OK);
    assert_string_equal(a, b);
    assert_int_equal(tpmiot_slot_info_get(t, 8, &info), TPMIOT_OK);
    assert_true(info.device_id_derived);
    assert_string_equal(info.device_id, a);
    verify_token(t, 8, "h.example", a, 9, false);
    tpmiot_slot_destroy(t, 8);
    tpmiot_tpm_close(&t);
}

static void test_errors(void **state)
{
    tpmiot_tpm *t = NULL;
    char cause[256];

    (void)state;
    assert_int_equal(tpmiot_tpm_open(&t, "swtpm:path=/nonexistent/sock"), TPMIOT_E_TCTI);
    assert_null(t);
    assert_true(tpmiot_tpm_last_tss_rc(NULL) != 0);
    assert_non_null(strstr(tpmiot_tpm_last_cause(NULL, cause, sizeof cause), "0x"));
    assert_int_equal(tpmiot_tpm_open(&t, "nosuchtcti"), TPMIOT_E_TCTI);
    t = open_tpm();
    uint8_t k[32] = {1};
    tpmiot_identity id = {"h.example", "d", NULL};
    assert_int_equal(tpmiot_slot_provision(t, 10, &id, k, sizeof k), TPMIOT_E_SLOT_RANGE);
    uint8_t mac[32];
    assert_int_equal(tpmiot_slot_hmac(t, 3, "x", 1, mac), TPMIOT_E_SLOT_EMPTY);
    tpmiot_tpm_close(&t);
    tpmiot_tpm_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info),           cmocka_unit_test(test_provision_read_token_destroy),
        cmocka_unit_test(test_hmac_lengths),   cmocka_unit_test(test_all_slots_survive_restart),
        cmocka_unit_test(test_vectors_in_tpm), cmocka_unit_test(test_hw_id_stable),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
