/* The hub's CONNECT checks and topic rules over a real registry file, without
 * a broker: the security matrix, the access matrix, registry behaviour. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <tpmiot/tpmiot.h>

#include "auth.h"
#include "registry.h"

#define HOST "hub.example.net"

static char dir[64], path[128];
static hub_registry *reg;
static uint64_t now;
static const auth_config cfg = {HOST, 300, 366 * 86400};

static void put_device(const char *dev, const char *mod, bool enabled, reg_device *out)
{
    reg_device d = {0};
    snprintf(d.device_id, sizeof d.device_id, "%s", dev);
    snprintf(d.module_id, sizeof d.module_id, "%s", mod ? mod : "");
    d.enabled = enabled;
    assert_int_equal(registry_device_put(reg, &d, NULL, out, NULL), REG_OK);
}

static int setup(void **state)
{
    reg_policy p = {0};
    static const struct {
        const char *name;
        unsigned rights;
    } pols[] = {{"iothubowner", 15}, {"service", 4}, {"registryRead", 1}, {"registryReadWrite", 3}};

    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tpmiot-hubtest-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/registry.db", dir);
    if (registry_open(&reg, path, true))
        return -1;
    for (int i = 0; i < 4; i++) {
        snprintf(p.name, sizeof p.name, "%s", pols[i].name);
        p.rights = pols[i].rights;
        registry_new_key(p.primary_key, sizeof p.primary_key);
        registry_new_key(p.secondary_key, sizeof p.secondary_key);
        if (registry_policy_put(reg, &p))
            return -1;
    }
    now = (uint64_t)time(NULL);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    registry_close(&reg);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* A token signed with the base64 key for sr (raw or encoded), expiry, policy. */
static char *token(const char *key_b64, const char *host, const char *dev, const char *mod,
                   uint64_t expiry, bool encoded, const char *policy)
{
    uint8_t k[80];
    size_t n = sizeof k;
    tpmiot_signer *s = NULL;
    tpmiot_identity id = {host, dev, mod};
    tpmiot_sas_options o = {.expiry = expiry, .encoded_resource = encoded, .policy = policy};
    char *t = NULL;

    assert_int_equal(tpmiot_base64_decode(key_b64, strlen(key_b64), k, &n), TPMIOT_OK);
    assert_int_equal(tpmiot_signer_from_key(&s, &id, k, n), TPMIOT_OK);
    assert_int_equal(tpmiot_sas_build(s, &o, &t), TPMIOT_OK);
    tpmiot_signer_free(&s);
    return t;
}

struct attempt {
    const char *what;
    const char *client, *user;
    char *password;
    auth_result want;
};

static void run(struct attempt *a, size_t n, int *fails, int *passes)
{
    for (size_t i = 0; i < n; i++) {
        auth_identity id;
        auth_result got = auth_mqtt(reg, &cfg, a[i].client, a[i].user, a[i].password, now, &id);
        if (got != a[i].want)
            fail_msg("%s: got '%s', want '%s'", a[i].what, auth_result_str(got),
                     auth_result_str(a[i].want));
        if (got == AUTH_OK)
            (*passes)++;
        else
            (*fails)++;
        free(a[i].password);
    }
}

static void test_connect_matrix(void **state)
{
    reg_device d1, d2, dis, m1, gone, rot;
    reg_policy svc, owner;
    char big[4000], inj[200];
    int fails = 0, passes = 0;
    const char *U1 = HOST "/dev1/?api-version=2021-04-12";

    (void)state;
    put_device("dev1", NULL, true, &d1);
    put_device("dev2", NULL, true, &d2);
    put_device("off", NULL, false, &dis);
    put_device("dev1", "mod1", true, &m1);
    put_device("gone", NULL, true, &gone);
    assert_int_equal(registry_device_delete(reg, "gone", NULL, NULL), REG_OK);
    put_device("rot", NULL, true, &rot);
    char old_rot_key[REG_KEY_MAX];
    memcpy(old_rot_key, rot.primary_key, sizeof old_rot_key);
    rot.primary_key[0] = '\0'; /* regenerate */
    assert_int_equal(registry_device_put(reg, &rot, NULL, &rot, NULL), REG_OK);
    assert_int_equal(registry_policy_get(reg, "service", &svc), REG_OK);
    assert_int_equal(registry_policy_get(reg, "iothubowner", &owner), REG_OK);
    uint64_t e = now + 600;
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "SharedAccessSignature sr=", 25);

    struct attempt must_fail[] = {
        {"expired", "dev1", U1, token(d1.primary_key, HOST, "dev1", NULL, now - 1000, false, NULL),
         AUTH_EXPIRED},
        {"far future", "dev1", U1,
         token(d1.primary_key, HOST, "dev1", NULL, now + 400 * 86400, false, NULL), AUTH_TOO_LONG},
        {"tampered signature", "dev1", U1, NULL, AUTH_SIGNATURE},
        {"another device's key", "dev1", U1,
         token(d2.primary_key, HOST, "dev1", NULL, e, false, NULL), AUTH_SIGNATURE},
        {"wrong hostname in username", "dev1", "other.example.net/dev1/?api-version=1",
         token(d1.primary_key, HOST, "dev1", NULL, e, false, NULL), AUTH_WRONG_HOST},
        {"wrong hostname in token", "dev1", U1,
         token(d1.primary_key, "other.example.net", "dev1", NULL, e, false, NULL), AUTH_WRONG_HOST},
        {"sr for another device", "dev1", U1,
         token(d2.primary_key, HOST, "dev2", NULL, e, false, NULL), AUTH_WRONG_RESOURCE},
        {"client id is not the device", "dev2", U1,
         token(d1.primary_key, HOST, "dev1", NULL, e, false, NULL), AUTH_BAD_CLIENT_ID},
        {"client id differs in case", "DEV1", U1,
         token(d1.primary_key, HOST, "dev1", NULL, e, false, NULL), AUTH_BAD_CLIENT_ID},
        {"disabled device", "off", HOST "/off/?api-version=1",
         token(dis.primary_key, HOST, "off", NULL, e, false, NULL), AUTH_DISABLED},
        {"deleted device", "gone", HOST "/gone/?api-version=1",
         token(gone.primary_key, HOST, "gone", NULL, e, false, NULL), AUTH_UNKNOWN_DEVICE},
        {"unknown device", "ghost", HOST "/ghost/?api-version=1",
         token(d1.primary_key, HOST, "ghost", NULL, e, false, NULL), AUTH_UNKNOWN_DEVICE},
        {"old key after rotation", "rot", HOST "/rot/?api-version=1",
         token(old_rot_key, HOST, "rot", NULL, e, false, NULL), AUTH_SIGNATURE},
        {"policy token as a device", "dev1", U1,
         token(owner.primary_key, HOST, NULL, NULL, e, false, "iothubowner"),
         AUTH_POLICY_AS_DEVICE},
        {"device token as a service", "svc#app", "service@" HOST,
         token(d1.primary_key, HOST, "dev1", NULL, e, false, NULL), AUTH_DEVICE_AS_SERVICE},
        {"service policy lacking ServiceConnect", "svc#app", "service@" HOST, NULL, AUTH_NO_RIGHT},
        {"unknown policy", "svc#app", "service@" HOST,
         token(svc.primary_key, HOST, NULL, NULL, e, false, "nosuch"), AUTH_UNKNOWN_POLICY},
        {"service with a device's client id", "dev1", "service@" HOST,
         token(svc.primary_key, HOST, NULL, NULL, e, false, "service"), AUTH_BAD_CLIENT_ID},
        {"malformed token", "dev1", U1, strdup("SharedAccessSignature sr=x&sig=y"), AUTH_BAD_TOKEN},
        {"not a token", "dev1", U1, strdup("hunter2"), AUTH_BAD_TOKEN},
        {"oversized token", "dev1", U1, strdup(big), AUTH_BAD_TOKEN},
        {"empty password", "dev1", U1, strdup(""), AUTH_NO_PASSWORD},
        {"no password", "dev1", U1, NULL, AUTH_NO_PASSWORD},
        {"injection in device id", "dev1' OR '1'='1", HOST "/dev1' OR '1'='1/?api-version=1",
         token(d1.primary_key, HOST, "dev1", NULL, e, false, NULL), AUTH_BAD_USERNAME},
        {"wildcard device id", "+", HOST "/+/?api-version=1",
         token(d1.primary_key, HOST, "dev1", NULL, e, false, NULL), AUTH_BAD_USERNAME},
        {"slash in device id", "dev1", HOST "/dev1/x/y/?api-version=1",
         token(d1.primary_key, HOST, "dev1", NULL, e, false, NULL), AUTH_BAD_USERNAME},
        {"newline injection", "dev1\n", HOST "/dev1/?api-version=1",
         token(d1.primary_key, HOST, "dev1", NULL, e, false, NULL), AUTH_BAD_CLIENT_ID},
        {"empty username", "dev1", "", token(d1.primary_key, HOST, "dev1", NULL, e, false, NULL),
         AUTH_BAD_USERNAME},
        {"device token for a module", "dev1/mod1", HOST "/dev1/mod1/?api-version=1",
         token(d1.primary_key, HOST, "dev1", NULL, e, false, NULL), AUTH_WRONG_RESOURCE},
        {"module signed with the device key", "dev1/mod1", HOST "/dev1/mod1/?api-version=1",
         token(d1.primary_key, HOST, "dev1", "mod1", e, false, NULL), AUTH_SIGNATURE},
        {"sr with a different id case", "dev1", U1,
         token(d1.primary_key, HOST, "DEV1", NULL, e, false, NULL), AUTH_WRONG_RESOURCE},
    };
    /* Tampered: flip one signature character of a good token. */
    must_fail[2].password = token(d1.primary_key, HOST, "dev1", NULL, e, false, NULL);
    char *sig = strstr(must_fail[2].password, "sig=") + 4;
    *sig = *sig == 'A' ? 'B' : 'A';
    must_fail[15].password = token(owner.primary_key, HOST, NULL, NULL, e, false, "registryRead");
    /* registryRead's own key: the signature is fine, the right is missing. */
    reg_policy rr;
    assert_int_equal(registry_policy_get(reg, "registryRead", &rr), REG_OK);
    free(must_fail[15].password);
    must_fail[15].password = token(rr.primary_key, HOST, NULL, NULL, e, false, "registryRead");
    snprintf(inj, sizeof inj, "%s", "x");

    struct attempt must_pass[] = {
        {"primary key, raw sr", "dev1", U1,
         token(d1.primary_key, HOST, "dev1", NULL, e, false, NULL), AUTH_OK},
        {"secondary key", "dev1", U1, token(d1.secondary_key, HOST, "dev1", NULL, e, false, NULL),
         AUTH_OK},
        {"encoded sr", "dev1", U1, token(d1.primary_key, HOST, "dev1", NULL, e, true, NULL),
         AUTH_OK},
        {"username with DeviceClientType", "dev1",
         HOST "/dev1/?api-version=2021-04-12&DeviceClientType=c%2F1.0",
         token(d1.primary_key, HOST, "dev1", NULL, e, false, NULL), AUTH_OK},
        {"hostname case differs", "dev1", "HUB.example.net/dev1/?api-version=1",
         token(d1.primary_key, "Hub.Example.Net", "dev1", NULL, e, false, NULL), AUTH_OK},
        {"expired within the skew", "dev1", U1,
         token(d1.primary_key, HOST, "dev1", NULL, now - 100, false, NULL), AUTH_OK},
        {"module, its own key", "dev1/mod1", HOST "/dev1/mod1/?api-version=1",
         token(m1.primary_key, HOST, "dev1", "mod1", e, false, NULL), AUTH_OK},
        {"module, encoded sr", "dev1/mod1", HOST "/dev1/mod1/?api-version=1",
         token(m1.secondary_key, HOST, "dev1", "mod1", e, true, NULL), AUTH_OK},
        {"new key after rotation", "rot", HOST "/rot/?api-version=1",
         token(rot.primary_key, HOST, "rot", NULL, e, false, NULL), AUTH_OK},
        {"service policy", "svc#monitor", "service@" HOST,
         token(svc.primary_key, HOST, NULL, NULL, e, false, "service"), AUTH_OK},
        {"owner policy as service", "svc#x", "service@" HOST,
         token(owner.secondary_key, HOST, NULL, NULL, e, true, "iothubowner"), AUTH_OK},
    };
    run(must_fail, sizeof must_fail / sizeof must_fail[0], &fails, &passes);
    assert_int_equal(passes, 0);
    passes = 0;
    run(must_pass, sizeof must_pass / sizeof must_pass[0], &fails, &passes);
    print_message("CONNECT matrix: %d refused as expected, %d accepted as expected\n", fails,
                  passes);
    assert_true(fails >= 25);
}

static void test_acl_matrix(void **state)
{
    static const struct {
        const char *session;
        int what;
        const char *topic;
        bool allowed;
    } m[] = {
        {"d:dev1", ACL_PUBLISH, "devices/dev1/messages/events/", true},
        {"d:dev1", ACL_PUBLISH, "devices/dev1/messages/events/a=1&%24.mid=x", true},
        {"d:dev1", ACL_PUBLISH, "devices/dev2/messages/events/", false},
        {"d:dev1", ACL_PUBLISH, "devices/dev1/messages/devicebound/x", false},
        {"d:dev1", ACL_PUBLISH, "devices/dev1/messages/events", false},
        {"d:dev1", ACL_PUBLISH, "other/topic", false},
        {"d:dev1", ACL_SUBSCRIBE, "devices/dev1/messages/devicebound/#", true},
        {"d:dev1", ACL_SUBSCRIBE, "devices/dev2/messages/devicebound/#", false},
        {"d:dev1", ACL_SUBSCRIBE, "devices/+/messages/devicebound/#", false},
        {"d:dev1", ACL_SUBSCRIBE, "devices/#", false},
        {"d:dev1", ACL_SUBSCRIBE, "#", false},
        {"d:dev1", ACL_SUBSCRIBE, "devices/dev1/messages/#", false},
        {"d:dev1", ACL_SUBSCRIBE, "devices/dev1/messages/events/#", false},
        {"d:dev1", ACL_SUBSCRIBE, "$iothub/twin/res/#", false},
        {"d:dev1", ACL_RECEIVE, "devices/dev1/messages/devicebound/%24.mid=1", true},
        {"d:dev1", ACL_RECEIVE, "devices/dev2/messages/devicebound/x", false},
        {"d:dev1", ACL_RECEIVE, "devices/dev2/messages/events/", false},
        {"m:dev1/mod1", ACL_PUBLISH, "devices/dev1/modules/mod1/messages/events/", true},
        {"m:dev1/mod1", ACL_PUBLISH, "devices/dev1/messages/events/", false},
        {"m:dev1/mod1", ACL_PUBLISH, "devices/dev1/modules/mod2/messages/events/", false},
        {"s:service", ACL_SUBSCRIBE, "devices/+/messages/events/#", true},
        {"s:service", ACL_SUBSCRIBE, "devices/dev1/messages/events/#", true},
        {"s:service", ACL_SUBSCRIBE, "devices/+/messages/devicebound/#", false},
        {"s:service", ACL_SUBSCRIBE, "#", false},
        {"s:service", ACL_RECEIVE, "devices/dev2/messages/events/", true},
        {"s:service", ACL_PUBLISH, "devices/dev1/messages/devicebound/%24.mid=5", true},
        {"s:service", ACL_PUBLISH, "devices/dev1/messages/events/", false},
        {"-", ACL_PUBLISH, "devices/dev1/messages/events/", false},
        {"", ACL_SUBSCRIBE, "devices/dev1/messages/devicebound/#", false},
    };

    (void)state;
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (auth_acl(m[i].session, m[i].what, m[i].topic) != m[i].allowed)
            fail_msg("%s %d %s: want %s", m[i].session, m[i].what, m[i].topic,
                     m[i].allowed ? "allowed" : "denied");
}

static void note_change(const char *dev, const char *mod, void *arg)
{
    char *out = arg;
    strcat(out, dev);
    if (*mod) {
        strcat(out, "/");
        strcat(out, mod);
    }
    strcat(out, ",");
}

static void test_registry(void **state)
{
    reg_device a, b, c;
    int64_t seq = 0;
    char seen[256] = "", etag[48], quoted[52];
    bool created;

    (void)state;
    assert_int_equal(registry_changes_since(reg, &seq, note_change, seen), REG_OK);
    assert_string_equal(seen, ""); /* the past is not replayed */
    put_device("r1", NULL, true, &a);
    assert_int_equal(strlen(a.generation_id), 18);
    assert_true(strlen(a.primary_key) == 44 && strcmp(a.primary_key, a.secondary_key));
    registry_etag(&a, etag, sizeof etag);
    snprintf(quoted, sizeof quoted, "\"%s\"", etag);
    b = a;
    b.enabled = false;
    assert_int_equal(registry_device_put(reg, &b, "\"bogus\"", &c, NULL), REG_PRECONDITION);
    assert_int_equal(registry_device_put(reg, &b, quoted, &c, &created), REG_OK);
    assert_false(created);
    assert_int_equal(c.version, a.version + 1);
    assert_string_equal(c.generation_id, a.generation_id);
    assert_int_equal(registry_device_put(reg, &b, quoted, &c, NULL), REG_PRECONDITION); /* stale */
    b.enabled = true; /* enabling is not an auth change */
    assert_int_equal(registry_device_put(reg, &b, "*", &c, NULL), REG_OK);
    assert_int_equal(registry_changes_since(reg, &seq, note_change, seen), REG_OK);
    assert_string_equal(seen, "r1,");
    put_device("r1", "m", true, NULL);
    assert_int_equal(registry_device_delete(reg, "r1", NULL, NULL), REG_OK);
    assert_int_equal(registry_device_get(reg, "r1", "m", &c), REG_NOT_FOUND); /* modules go too */
    seen[0] = '\0';
    assert_int_equal(registry_changes_since(reg, &seq, note_change, seen), REG_OK);
    assert_string_equal(seen, "r1,");
    /* Bad input changes nothing. */
    memset(&b, 0, sizeof b);
    snprintf(b.device_id, sizeof b.device_id, "bad/id");
    assert_int_equal(registry_device_put(reg, &b, NULL, NULL, NULL), REG_INVALID);
    snprintf(b.device_id, sizeof b.device_id, "ok");
    snprintf(b.primary_key, sizeof b.primary_key, "c2hvcnQ="); /* 5 bytes */
    assert_int_equal(registry_device_put(reg, &b, NULL, NULL, NULL), REG_INVALID);
    assert_int_equal(registry_device_get(reg, "ok", NULL, &c), REG_NOT_FOUND);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_matrix),
        cmocka_unit_test(test_acl_matrix),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
