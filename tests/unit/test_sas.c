/* SAS tokens: every known-answer vector, both sr forms, parsing and verification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <tpmiot/tpmiot.h>

#include "vectors.h"

static struct sas_vector vec[32];
static int nvec;

/* Splits a vector's string-to-sign into what a signer needs to produce it. */
struct sts_parts {
    bool is_token; /* resource "\n" digits; else a plain HMAC vector */
    bool encoded;
    char host[256], dev[129], mod[129];
    uint64_t expiry;
};

static void split_sts(const struct sas_vector *v, struct sts_parts *p)
{
    char res[512], dec[256];
    size_t n = sizeof dec;
    const char *nl = strrchr(v->sts, '\n');
    char *s;

    memset(p, 0, sizeof *p);
    if (!nl || !nl[1] || strspn(nl + 1, "0123456789") != strlen(nl + 1))
        return;
    p->is_token = true;
    p->expiry = strtoull(nl + 1, NULL, 10);
    snprintf(res, sizeof res, "%.*s", (int)(nl - v->sts), v->sts);
    p->encoded = strstr(res, "%2F") != NULL;
    assert_int_equal(tpmiot_url_decode(res, strlen(res), dec, &n), TPMIOT_OK);
    if ((s = strstr(dec, "/modules/"))) {
        snprintf(p->mod, sizeof p->mod, "%s", s + 9);
        *s = '\0';
    }
    if ((s = strstr(dec, "/devices/"))) {
        snprintf(p->dev, sizeof p->dev, "%s", s + 9);
        *s = '\0';
    }
    snprintf(p->host, sizeof p->host, "%s", dec);
}

static tpmiot_signer *signer_for(const struct sas_vector *v, const struct sts_parts *p)
{
    uint8_t key[80];
    size_t n = sizeof key;
    tpmiot_signer *s = NULL;
    tpmiot_identity id = {p->is_token ? p->host : "hmac.only", p->dev, p->mod};

    assert_int_equal(tpmiot_base64_decode(v->key_b64, strlen(v->key_b64), key, &n), TPMIOT_OK);
    assert_int_equal(tpmiot_signer_from_key(&s, &id, key, n), TPMIOT_OK);
    tpmiot_wipe(key, sizeof key);
    return s;
}

static void test_vectors_loaded(void **state)
{
    (void)state;
    /* The shared file has five rows; fewer means the path or the parser broke. */
    assert_true(nvec >= 5);
}

static void test_vector_signatures(void **state)
{
    (void)state;
    for (int i = 0; i < nvec; i++) {
        struct sts_parts p;
        uint8_t mac[32];
        char b64[64];
        size_t n = sizeof b64;
        tpmiot_signer *s;

        split_sts(&vec[i], &p);
        s = signer_for(&vec[i], &p);
        assert_int_equal(tpmiot_signer_hmac(s, vec[i].sts, vec[i].sts_len, mac), TPMIOT_OK);
        assert_int_equal(tpmiot_base64_encode(mac, 32, b64, &n), TPMIOT_OK);
        if (strcmp(b64, vec[i].sig_b64))
            fail_msg("vector %d (%s): got %s want %s", i, vec[i].source, b64, vec[i].sig_b64);
        tpmiot_signer_free(&s);
        assert_null(s);
    }
}

static void test_vector_tokens(void **state)
{
    int tokens = 0;

    (void)state;
    for (int i = 0; i < nvec; i++) {
        struct sts_parts p;
        tpmiot_sas_parts parts;
        tpmiot_signer *s;
        char *tok = NULL, skn[64] = "";
        const char *k;

        split_sts(&vec[i], &p);
        if (!p.is_token)
            continue;
        if (vec[i].token[0] && (k = strstr(vec[i].token, "skn=")))
            snprintf(skn, sizeof skn, "%.*s", (int)strcspn(k + 4, "&"), k + 4);
        s = signer_for(&vec[i], &p);
        tpmiot_sas_options o = {
            .expiry = p.expiry, .encoded_resource = p.encoded, .policy = skn[0] ? skn : NULL};
        assert_int_equal(tpmiot_sas_build(s, &o, &tok), TPMIOT_OK);
        if (vec[i].token[0]) {
            assert_string_equal(tok, vec[i].token);
            tokens++;
        }
        assert_int_equal(tpmiot_sas_parse(tok, &parts), TPMIOT_OK);
        assert_string_equal(parts.sig, vec[i].sig_b64);
        assert_int_equal(parts.se, p.expiry);
        /* Verify at the moment before expiry: these vectors expired long ago. */
        assert_int_equal(tpmiot_sas_verify(s, tok, p.expiry - 1), TPMIOT_OK);
        assert_int_equal(tpmiot_sas_verify(s, tok, p.expiry + 1), TPMIOT_E_TOKEN_EXPIRED);
        tpmiot_free(tok);
        tpmiot_signer_free(&s);
    }
    assert_true(tokens >= 3);
}

static tpmiot_signer *dev_signer(const char *dev, const char *mod, uint8_t fill)
{
    uint8_t key[32];
    tpmiot_signer *s = NULL;
    tpmiot_identity id = {"hub.example.net", dev, mod};

    memset(key, fill, sizeof key);
    assert_int_equal(tpmiot_signer_from_key(&s, &id, key, sizeof key), TPMIOT_OK);
    return s;
}

static void test_resource_forms(void **state)
{
    tpmiot_signer *s = dev_signer("dev-1", NULL, 1), *m = dev_signer("dev-1", "mod.a", 1);
    tpmiot_sas_options raw = {.expiry = 2000000000},
                       enc = {.expiry = 2000000000, .encoded_resource = true};
    char *t1, *t2, *t3, *cs;

    (void)state;
    assert_int_equal(tpmiot_sas_build(s, &raw, &t1), TPMIOT_OK);
    assert_int_equal(tpmiot_sas_build(s, &enc, &t2), TPMIOT_OK);
    assert_int_equal(tpmiot_sas_build(m, &raw, &t3), TPMIOT_OK);
    assert_non_null(strstr(t1, "sr=hub.example.net/devices/dev-1&sig="));
    assert_non_null(strstr(t2, "sr=hub.example.net%2Fdevices%2Fdev-1&sig="));
    assert_non_null(strstr(t3, "sr=hub.example.net/devices/dev-1/modules/mod.a&sig="));
    assert_true(strstr(t1, "&se=2000000000") != NULL);
    /* Both forms verify, each over its own bytes; they are different signatures. */
    assert_int_equal(tpmiot_sas_verify(s, t1, 1), TPMIOT_OK);
    assert_int_equal(tpmiot_sas_verify(s, t2, 1), TPMIOT_OK);
    assert_string_not_equal(strstr(t1, "sig="), strstr(t2, "sig="));
    assert_int_equal(tpmiot_sas_connection_string(m, &raw, &cs), TPMIOT_OK);
    assert_non_null(strstr(cs, "HostName=hub.example.net;DeviceId=dev-1;ModuleId=mod.a;"
                               "SharedAccessSignature=SharedAccessSignature sr="));
    tpmiot_free(t1);
    tpmiot_free(t2);
    tpmiot_free(t3);
    tpmiot_free(cs);
    tpmiot_signer_free(&s);
    tpmiot_signer_free(&m);
}

static void test_ttl_default(void **state)
{
    tpmiot_signer *s = dev_signer("d", NULL, 2);
    tpmiot_sas_parts p;
    tpmiot_sas_options ttl = {.ttl = 60};
    uint64_t now = (uint64_t)time(NULL);
    char *t;

    (void)state;
    assert_int_equal(tpmiot_sas_build(s, NULL, &t), TPMIOT_OK);
    assert_int_equal(tpmiot_sas_parse(t, &p), TPMIOT_OK);
    assert_true(p.se >= now + 3600 && p.se <= now + 3602);
    tpmiot_free(t);
    assert_int_equal(tpmiot_sas_build(s, &ttl, &t), TPMIOT_OK);
    assert_int_equal(tpmiot_sas_parse(t, &p), TPMIOT_OK);
    assert_true(p.se >= now + 60 && p.se <= now + 62);
    tpmiot_free(t);
    tpmiot_signer_free(&s);
}

static void test_verify_rejects(void **state)
{
    tpmiot_signer *a = dev_signer("a", NULL, 3), *b = dev_signer("a", NULL, 4);
    tpmiot_sas_options o = {.expiry = 2000000000};
    char *t, bad[1024];

    (void)state;
    assert_int_equal(tpmiot_sas_build(a, &o, &t), TPMIOT_OK);
    assert_int_equal(tpmiot_sas_verify(b, t, 1), TPMIOT_E_SIGNATURE);
    /* Tamper with the expiry: the signature covers it. */
    snprintf(bad, sizeof bad, "%s", t);
    bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '1' ? '2' : '1';
    assert_int_equal(tpmiot_sas_verify(a, bad, 1), TPMIOT_E_SIGNATURE);
    /* Tamper with the signature. */
    snprintf(bad, sizeof bad, "%s", t);
    char *sig = strstr(bad, "sig=") + 4;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    assert_int_equal(tpmiot_sas_verify(a, bad, 1), TPMIOT_E_SIGNATURE);
    tpmiot_free(t);
    tpmiot_signer_free(&a);
    tpmiot_signer_free(&b);
}

static void test_parse_malformed(void **state)
{
    static const char *bad[] = {
        "",
        "SharedAccessSignature",
        "SharedAccessSignature ",
        "sr=a&sig=b&se=1",
        "SharedAccessSignature sr=a&sig=b",
        "SharedAccessSignature sr=a&se=1",
        "SharedAccessSignature sig=b&se=1",
        "SharedAccessSignature sr=a&sig=b&se=1&",
        "SharedAccessSignature sr=a&sig=b&se=x1",
        "SharedAccessSignature sr=a&sig=b&se=-1",
        "SharedAccessSignature sr=a&sig=b&se=123456789012345678901",
        "SharedAccessSignature sr=a&sr=a&sig=b&se=1",
        "SharedAccessSignature sr=a&sig=b&se=1&se=2",
        "SharedAccessSignature sr=&sig=b&se=1",
        "SharedAccessSignature sr=a&sig=b&se=1&foo=bar",
        "SharedAccessSignature sr=a&sig=%zz&se=1",
        "SharedAccessSignature sr=a&sig=%0&se=1",
        "SharedAccessSignature sr=a&sig=%00&se=1",
        "SharedAccessSignature sr=a&sig=b&se=1&skn=bad name",
        "SharedAccessSignature sr=a&sig=b&se=1&skn=",
        "SharedAccessSignature sr=a&sigb&se=1",
    };
    tpmiot_sas_parts p;
    char big[6000];

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tpmiot_sas_parse(bad[i], &p) != TPMIOT_E_BAD_TOKEN)
            fail_msg("accepted: '%s'", bad[i]);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "SharedAccessSignature sr=", 25);
    assert_int_equal(tpmiot_sas_parse(big, &p), TPMIOT_E_BAD_TOKEN);
    assert_int_equal(tpmiot_sas_parse("SharedAccessSignature sr=a&sig=b%3D&se=10&skn=p", &p),
                     TPMIOT_OK);
    assert_string_equal(p.sig, "b=");
    assert_string_equal(p.skn, "p");
}

static void test_bad_options(void **state)
{
    tpmiot_signer *s = dev_signer("d", NULL, 5);
    tpmiot_sas_options o = {.policy = "has space"};
    char *t = (char *)1;

    (void)state;
    assert_int_equal(tpmiot_sas_build(s, &o, &t), TPMIOT_E_BAD_POLICY);
    assert_null(t);
    o = (tpmiot_sas_options){.expiry = 999999999999ULL};
    assert_int_equal(tpmiot_sas_build(s, &o, &t), TPMIOT_E_BAD_EXPIRY);
    assert_int_equal(tpmiot_sas_build(NULL, &o, &t), TPMIOT_E_INVALID_ARG);
    tpmiot_signer_free(&s);
}

static void test_signer_rejects(void **state)
{
    uint8_t key[65] = {0};
    tpmiot_signer *s = NULL;
    tpmiot_identity ok = {"h.example", "d", NULL}, badh = {"h..example", "d", NULL},
                    badd = {"h.example", "d/x", NULL}, badm = {"h.example", "d", "m#"},
                    modnodev = {"h.example", NULL, "m"};

    (void)state;
    assert_int_equal(tpmiot_signer_from_key(&s, &ok, key, 0), TPMIOT_E_BAD_KEY);
    assert_int_equal(tpmiot_signer_from_key(&s, &ok, key, 65), TPMIOT_E_BAD_KEY);
    assert_int_equal(tpmiot_signer_from_key(&s, &badh, key, 32), TPMIOT_E_BAD_HOSTNAME);
    assert_int_equal(tpmiot_signer_from_key(&s, &badd, key, 32), TPMIOT_E_BAD_DEVICE_ID);
    assert_int_equal(tpmiot_signer_from_key(&s, &badm, key, 32), TPMIOT_E_BAD_MODULE_ID);
    assert_int_equal(tpmiot_signer_from_key(&s, &modnodev, key, 32), TPMIOT_E_BAD_MODULE_ID);
    assert_null(s);
    assert_int_equal(tpmiot_signer_from_key(&s, &ok, key, 1), TPMIOT_OK);
    tpmiot_signer_free(&s);
    assert_int_equal(tpmiot_signer_from_key(&s, &ok, key, 64), TPMIOT_OK);
    tpmiot_signer_free(&s);
    tpmiot_signer_free(&s); /* NULL is fine */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_loaded),  cmocka_unit_test(test_vector_signatures),
        cmocka_unit_test(test_vector_tokens),   cmocka_unit_test(test_resource_forms),
        cmocka_unit_test(test_ttl_default),     cmocka_unit_test(test_verify_rejects),
        cmocka_unit_test(test_parse_malformed), cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_signer_rejects),
    };
    nvec = sas_vectors_load(SAS_VECTORS, vec, 32);
    if (nvec < 0) {
        fprintf(stderr, "cannot read %s\n", SAS_VECTORS);
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
