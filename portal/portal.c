/*
 * The device portal (`tpmiot portal`): HTTPS (libmicrohttpd, a thread per
 * connection), a password login (PBKDF2-SHA256, no default), session cookies
 * (HttpOnly, Secure, SameSite=Strict, idle timeout), a CSRF token on every
 * write, and the Windows Device Portal's TPM paths. Built on libtpmiot's
 * public API only. See docs/portal.md for the exact shapes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <tpmiot/tpmiot.h>

#include "../common/reqbody.h"
#include "../common/x509.h"

#include "portal.h"

#define BODY_MAX 8192
#define SESSIONS 16
#define PBKDF2_ITER 200000
#define COOKIE "tpmiot_session"

struct session {
    char id[65], csrf[65];
    time_t last;
};

struct portal {
    tpmiot_tpm *tpm;
    pthread_mutex_t lock; /* the TPM handle and the session table */
    struct session s[SESSIONS];
    unsigned idle;
    char pw_line[300];
    unsigned fails; /* consecutive failed logins, for the delay */
};

static struct portal P;

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* ---- password ---- */

static int pw_path(const char *state, char *out, size_t len)
{
    return snprintf(out, len, "%s/password", state) >= (int)len ? -1 : 0;
}

static bool pw_check(const char *line, const char *pw)
{
    char copy[300], *salt_b64, *hash_b64, *p;
    uint8_t salt[32], want[32], got[32];
    size_t sn = sizeof salt, hn = sizeof want;
    long iter;
    bool ok;

    snprintf(copy, sizeof copy, "%s", line);
    copy[strcspn(copy, "\n")] = '\0';
    if (strncmp(copy, "pbkdf2-sha256:", 14))
        return false;
    iter = strtol(copy + 14, &p, 10);
    if (*p != ':' || iter < 10000)
        return false;
    salt_b64 = p + 1;
    if (!(hash_b64 = strchr(salt_b64, ':')))
        return false;
    *hash_b64++ = '\0';
    if (tpmiot_base64_decode(salt_b64, strlen(salt_b64), salt, &sn) ||
        tpmiot_base64_decode(hash_b64, strlen(hash_b64), want, &hn) || hn != 32)
        return false;
    if (!PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, (int)sn, (int)iter, EVP_sha256(), 32, got))
        return false;
    ok = CRYPTO_memcmp(got, want, 32) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return ok;
}

int portal_set_password(const char *state)
{
    char pw[256], path[600], salt_b64[32], hash_b64[64], tmp[620];
    uint8_t salt[16], hash[32];
    size_t n1 = sizeof salt_b64, n2 = sizeof hash_b64, n;
    FILE *f;
    int fd;

    if (isatty(0))
        fprintf(stderr, "tpmiot portal: new password (at least 10 characters), then Enter:\n");
    if (!fgets(pw, sizeof pw, stdin)) {
        fprintf(stderr, "tpmiot portal: no password given\n");
        return 1;
    }
    n = strcspn(pw, "\r\n");
    pw[n] = '\0';
    if (n < 10) {
        OPENSSL_cleanse(pw, sizeof pw);
        fprintf(stderr, "tpmiot portal: the password must have at least 10 characters\n");
        return 2;
    }
    RAND_bytes(salt, sizeof salt);
    if (!PKCS5_PBKDF2_HMAC(pw, (int)n, salt, sizeof salt, PBKDF2_ITER, EVP_sha256(), 32, hash)) {
        OPENSSL_cleanse(pw, sizeof pw);
        return 1;
    }
    OPENSSL_cleanse(pw, sizeof pw);
    tpmiot_base64_encode(salt, sizeof salt, salt_b64, &n1);
    tpmiot_base64_encode(hash, sizeof hash, hash_b64, &n2);
    mkdir(state, 0700);
    if (pw_path(state, path, sizeof path))
        return 1;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
        !(f = fdopen(fd, "w"))) {
        fprintf(stderr, "tpmiot portal: cannot write %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    fprintf(f, "pbkdf2-sha256:%d:%s:%s\n", PBKDF2_ITER, salt_b64, hash_b64);
    if (fclose(f) || rename(tmp, path)) {
        fprintf(stderr, "tpmiot portal: cannot write %s\n", path);
        return 1;
    }
    fprintf(stderr, "tpmiot portal: password set (%s, mode 0600)\n", path);
    return 0;
}

/* ---- a self-signed certificate for localhost, when none is given ---- */

static int make_cert(const char *cert, const char *key)
{
    EVP_PKEY *k = x509__key();
    X509 *c = k ? x509__new(k, "tpmiot", "tpmiot device portal", NULL, NULL, 825) : NULL;
    int rc = -1;

    if (c && !x509__add_ext(c, c, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") &&
        X509_sign(c, k, EVP_sha256()) && !x509__write_pem(key, k, NULL, false) &&
        !x509__write_pem(cert, NULL, c, false))
        rc = 0;
    X509_free(c);
    EVP_PKEY_free(k);
    return rc;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *b;
    size_t n;

    if (!f)
        return NULL;
    b = calloc(1, 65537);
    n = b ? fread(b, 1, 65536, f) : 0;
    fclose(f);
    if (b)
        b[n] = '\0';
    return b;
}

/* ---- responses ---- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
                               char *body, bool must_free, const char *cookie)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ok;

    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; style-src "
                            "'unsafe-inline'; connect-src 'self'; form-action 'self'; "
                            "frame-ancestors 'none'; base-uri 'none'");
    if (cookie)
        MHD_add_response_header(r, "Set-Cookie", cookie);
    ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result json(struct MHD_Connection *c, unsigned status, cJSON *j, const char *cookie)
{
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return respond(c, status, "application/json", s, true, cookie);
}

static enum MHD_Result error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "Message", msg);
    return json(c, status, j, NULL);
}

/* ---- sessions ---- */

static struct session *session_of(struct MHD_Connection *c)
{
    const char *id = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE);
    time_t now = time(NULL);

    if (!id || strlen(id) != 64)
        return NULL;
    for (int i = 0; i < SESSIONS; i++) {
        struct session *s = &P.s[i];
        if (!s->id[0])
            continue;
        if (now - s->last > (time_t)P.idle) {
            memset(s, 0, sizeof *s); /* idle too long */
            continue;
        }
        if (CRYPTO_memcmp(s->id, id, 64) == 0) {
            s->last = now;
            return s;
        }
    }
    return NULL;
}

static bool csrf_ok(struct MHD_Connection *c, const struct session *s)
{
    const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
    return t && strlen(t) == 64 && CRYPTO_memcmp(t, s->csrf, 64) == 0;
}

static const char *peer(struct MHD_Connection *c, char *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    buf[0] = '\0';
    if (ci && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)ci->client_addr)->sin_addr, buf, (socklen_t)len);
    else if (ci && ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ci->client_addr)->sin6_addr, buf,
                  (socklen_t)len);
    return buf;
}

static enum MHD_Result do_login(struct MHD_Connection *c, struct reqbody *q)
{
    cJSON *j = cJSON_ParseWithLength(q->body ? q->body : "", q->len), *pw;
    char who[64], cookie[200];
    uint8_t rnd[64];
    struct session *s = NULL;
    bool ok;

    pw = j ? cJSON_GetObjectItem(j, "password") : NULL;
    if (!cJSON_IsString(pw) || strlen(pw->valuestring) > 200) {
        cJSON_Delete(j);
        return error(c, 400, "send {\"password\": \"...\"}");
    }
    ok = pw_check(P.pw_line, pw->valuestring);
    OPENSSL_cleanse(pw->valuestring, strlen(pw->valuestring));
    cJSON_Delete(j);
    pthread_mutex_lock(&P.lock);
    if (!ok) {
        /* Each failure in a row doubles the wait, up to 8 s; the wait is
         * before the answer, so guessing costs time whatever the client does. */
        unsigned f = ++P.fails, delay = f > 4 ? 8 : 1u << (f - 1);
        pthread_mutex_unlock(&P.lock);
        fprintf(stderr, "tpmiot portal: failed login from %s (%u in a row); answering in %u s\n",
                peer(c, who, sizeof who), f, delay);
        sleep(delay);
        return error(c, 401, "wrong password");
    }
    P.fails = 0;
    time_t now = time(NULL);
    for (int i = 0; i < SESSIONS && !s; i++)
        if (!P.s[i].id[0] || now - P.s[i].last > (time_t)P.idle)
            s = &P.s[i];
    if (!s) {
        /* Full: the least recently used session goes. */
        s = &P.s[0];
        for (int i = 1; i < SESSIONS; i++)
            if (P.s[i].last < s->last)
                s = &P.s[i];
    }
    RAND_bytes(rnd, sizeof rnd);
    hex(rnd, 32, s->id);
    hex(rnd + 32, 32, s->csrf);
    OPENSSL_cleanse(rnd, sizeof rnd);
    s->last = now;
    snprintf(cookie, sizeof cookie, COOKIE "=%s; Path=/; HttpOnly; Secure; SameSite=Strict", s->id);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "csrf", s->csrf);
    pthread_mutex_unlock(&P.lock);
    fprintf(stderr, "tpmiot portal: login from %s\n", peer(c, who, sizeof who));
    return json(c, 200, r, cookie);
}

/* ---- the TPM API ---- */

static cJSON *b64str(const char *s)
{
    char out[1200];
    size_t n = sizeof out;
    if (tpmiot_base64_encode(s, strlen(s), out, &n))
        out[0] = '\0';
    return cJSON_CreateString(out);
}

static enum MHD_Result do_settings(struct MHD_Connection *c)
{
    tpmiot_slot_info s[TPMIOT_SLOT_COUNT];
    tpmiot_tpm_info info;
    tpmiot_rc rc = tpmiot_tpm_info_get(P.tpm, &info);
    char fw[48], uri[600];

    if (rc || (rc = tpmiot_slot_list(P.tpm, s)))
        return error(c, 500, tpmiot_strerror(rc));
    snprintf(fw, sizeof fw, "%u.%u.%u.%u", info.firmware1 >> 16, info.firmware1 & 0xffff,
             info.firmware2 >> 16, info.firmware2 & 0xffff);
    cJSON *j = cJSON_CreateObject(), *a;
    cJSON_AddStringToObject(j, "TPMManufacturer", info.manufacturer);
    cJSON_AddStringToObject(j, "TPMVendor", info.vendor);
    cJSON_AddStringToObject(j, "TPMFirmware", fw);
    cJSON_AddBoolToObject(j, "TPMSoftware", info.software);
    a = cJSON_AddArrayToObject(j, "Slots");
    for (int i = 0; i < TPMIOT_SLOT_COUNT; i++) {
        cJSON *e = cJSON_CreateObject();
        /* The URI as stored: a derived device id is not part of it. */
        bool dev = s[i].device_id[0] && !s[i].device_id_derived;
        snprintf(uri, sizeof uri, "%s%s%s%s%s", s[i].hostname, dev ? "/" : "",
                 dev ? s[i].device_id : "", s[i].module_id[0] ? "/" : "", s[i].module_id);
        cJSON_AddNumberToObject(e, "LogicalDeviceId", i);
        cJSON_AddStringToObject(e, "Hostname", s[i].hostname);
        cJSON_AddStringToObject(e, "DeviceId", s[i].device_id);
        cJSON_AddStringToObject(e, "ModuleId", s[i].module_id);
        cJSON_AddBoolToObject(e, "KeyPresent", s[i].key_present);
        cJSON_AddItemToObject(e, "AzureUri", b64str(s[i].hostname[0] ? uri : ""));
        cJSON_AddItemToArray(a, e);
    }
    return json(c, 200, j, NULL);
}

/* "base64 text" -> decoded string in out (NUL-terminated); false when bad. */
static bool unb64(cJSON *v, char *out, size_t len)
{
    size_t n = len - 1;
    if (!cJSON_IsString(v) ||
        tpmiot_base64_decode(v->valuestring, strlen(v->valuestring), (uint8_t *)out, &n))
        return false;
    out[n] = '\0';
    return memchr(out, '\0', n) == NULL;
}

static enum MHD_Result do_provision(struct MHD_Connection *c, unsigned slot, struct reqbody *q)
{
    cJSON *j = cJSON_ParseWithLength(q->body ? q->body : "", q->len);
    char cs[1200], uri[600], keytxt[200];
    uint8_t key[80];
    size_t kn = sizeof key;
    tpmiot_rc rc;
    enum MHD_Result ret;

    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return error(c, 400, "the body must be a JSON object");
    }
    cJSON *vcs = cJSON_GetObjectItem(j, "ConnectionString"),
          *vuri = cJSON_GetObjectItem(j, "AzureUri"), *vkey = cJSON_GetObjectItem(j, "AzureKey");
    if (vcs) {
        if (!unb64(vcs, cs, sizeof cs)) {
            ret = error(c, 400, "ConnectionString must be base64 of a connection string");
            goto out;
        }
        rc = tpmiot_slot_provision_connstr(P.tpm, slot, cs); /* wipes cs */
    } else {
        char *host, *dev, *mod;
        if (!unb64(vuri, uri, sizeof uri) || !unb64(vkey, keytxt, sizeof keytxt)) {
            ret = error(c, 400,
                        "AzureUri and AzureKey must be base64 (of host/device[/module] "
                        "and of the base64 key)");
            goto out;
        }
        host = uri;
        dev = strchr(uri, '/');
        if (dev)
            *dev++ = '\0';
        mod = dev ? strchr(dev, '/') : NULL;
        if (mod)
            *mod++ = '\0';
        if (tpmiot_base64_decode(keytxt, strlen(keytxt), key, &kn)) {
            ret = error(c, 400, tpmiot_strerror(TPMIOT_E_BAD_KEY));
            goto out;
        }
        tpmiot_identity id = {host, dev, mod};
        rc = tpmiot_slot_provision(P.tpm, slot, &id, key, kn); /* wipes key */
    }
    if (rc) {
        ret = error(c, rc == TPMIOT_E_TPM ? 500 : 400, tpmiot_strerror(rc));
        goto out;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "LogicalDeviceId", slot);
    cJSON_AddBoolToObject(r, "Provisioned", true);
    ret = json(c, 200, r, NULL);
out:
    /* The request body and every decoded copy held the key. */
    OPENSSL_cleanse(cs, sizeof cs);
    OPENSSL_cleanse(keytxt, sizeof keytxt);
    OPENSSL_cleanse(key, sizeof key);
    if (vkey && cJSON_IsString(vkey))
        OPENSSL_cleanse(vkey->valuestring, strlen(vkey->valuestring));
    if (vcs && cJSON_IsString(vcs))
        OPENSSL_cleanse(vcs->valuestring, strlen(vcs->valuestring));
    cJSON_Delete(j);
    return ret;
}

static enum MHD_Result do_slot(struct MHD_Connection *c, const char *method, unsigned slot,
                               struct reqbody *q)
{
    if (!strcmp(method, "GET")) {
        tpmiot_slot_info s;
        tpmiot_rc rc = tpmiot_slot_info_get(P.tpm, slot, &s);
        char uri[600];
        if (rc)
            return error(c, 500, tpmiot_strerror(rc));
        bool dev = s.device_id[0] && !s.device_id_derived;
        snprintf(uri, sizeof uri, "%s%s%s%s%s", s.hostname, dev ? "/" : "", dev ? s.device_id : "",
                 s.module_id[0] ? "/" : "", s.module_id);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "LogicalDeviceId", slot);
        cJSON_AddItemToObject(j, "AzureUri", b64str(s.hostname[0] ? uri : ""));
        cJSON_AddItemToObject(j, "DeviceId", b64str(s.device_id));
        cJSON_AddBoolToObject(j, "KeyPresent", s.key_present);
        return json(c, 200, j, NULL);
    }
    if (!strcmp(method, "POST"))
        return do_provision(c, slot, q);
    if (!strcmp(method, "DELETE")) {
        tpmiot_rc rc = tpmiot_slot_destroy(P.tpm, slot);
        if (rc)
            return error(c, 500, tpmiot_strerror(rc));
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "LogicalDeviceId", slot);
        cJSON_AddBoolToObject(j, "Destroyed", true);
        return json(c, 200, j, NULL);
    }
    return error(c, 405, "use GET, POST or DELETE");
}

static enum MHD_Result do_token(struct MHD_Connection *c, unsigned slot)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "validity");
    tpmiot_signer *s = NULL;
    tpmiot_sas_options o = {.ttl = 3600};
    char *tok = NULL, *end;
    tpmiot_rc rc;

    if (v) {
        long ttl = strtol(v, &end, 10);
        if (!*v || *end || ttl < 60 || ttl > 366L * 86400)
            return error(c, 400, "validity is 60 to 31622400 seconds");
        o.ttl = (uint64_t)ttl;
    }
    if ((rc = tpmiot_signer_from_slot(&s, P.tpm, slot)) || (rc = tpmiot_sas_build(s, &o, &tok))) {
        tpmiot_signer_free(&s);
        return error(c, rc == TPMIOT_E_SLOT_EMPTY ? 404 : 500, tpmiot_strerror(rc));
    }
    tpmiot_signer_free(&s);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "AzureToken", tok);
    tpmiot_free(tok);
    return json(c, 200, j, NULL);
}

/* "N" with N in 0-9 after prefix, nothing else. */
static bool slot_after(const char *url, const char *prefix, unsigned *slot)
{
    size_t n = strlen(prefix);
    if (strncmp(url, prefix, n) || url[n] < '0' || url[n] > '9' || url[n + 1])
        return false;
    *slot = (unsigned)(url[n] - '0');
    return true;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    struct reqbody *q = *con_cls;
    struct session *s;
    unsigned slot;
    enum MHD_Result ret;

    (void)cls;
    (void)version;
    if (!q) {
        if (!(q = calloc(1, sizeof *q)))
            return MHD_NO;
        *con_cls = q;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!reqbody_add(q, upload, *upload_size, BODY_MAX))
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (q->too_big)
        return error(c, 413, "the body is over 8 KiB");
    /* No path tricks: ids are digits, paths are exactly what is listed. */
    if (strstr(url, "..") || strstr(url, "//") || strchr(url, '\\'))
        return error(c, 400, "bad path");
    if (!strcmp(url, "/") || !strcmp(url, "/index.html")) {
        if (strcmp(method, "GET"))
            return error(c, 405, "use GET");
        return respond(c, 200, "text/html; charset=utf-8", (char *)portal_page_html, false, NULL);
    }
    if (!strcmp(url, "/api/login") && !strcmp(method, "POST"))
        return do_login(c, q);
    if (strncmp(url, "/api/", 5))
        return error(c, 404, "no such page");

    pthread_mutex_lock(&P.lock);
    s = session_of(c);
    if (!s) {
        ret = error(c, 401, "log in first");
        goto out;
    }
    /* Every request that changes something carries the session's CSRF token. */
    if (strcmp(method, "GET") && !csrf_ok(c, s)) {
        ret = error(c, 403, "missing or wrong X-CSRF-Token");
        goto out;
    }
    if (!strcmp(url, "/api/session") && !strcmp(method, "GET")) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "csrf", s->csrf);
        ret = json(c, 200, j, NULL);
    } else if (!strcmp(url, "/api/logout") && !strcmp(method, "POST")) {
        memset(s, 0, sizeof *s);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "LoggedOut", true);
        ret = json(c, 200, j, COOKIE "=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    } else if (!strcmp(url, "/api/iot/tpm/settings")) {
        ret = strcmp(method, "GET") ? error(c, 405, "use GET") : do_settings(c);
    } else if (slot_after(url, "/api/iot/tpm/settings/", &slot)) {
        ret = do_slot(c, method, slot, q);
    } else if (slot_after(url, "/api/iot/tpm/azuretoken/", &slot)) {
        ret = strcmp(method, "GET") ? error(c, 405, "use GET") : do_token(c, slot);
    } else if (!strncmp(url, "/api/iot/tpm/settings/", 22) ||
               !strncmp(url, "/api/iot/tpm/azuretoken/", 24)) {
        ret = error(c, 400, "the slot is a number from 0 to 9");
    } else {
        ret = error(c, 404, "no such API");
    }
out:
    pthread_mutex_unlock(&P.lock);
    return ret;
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
                 enum MHD_RequestTerminationCode toe)
{
    struct reqbody *q = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    reqbody_free(q); /* wiped: provisioning bodies carry keys */
    *con_cls = NULL;
}

int portal_run(const struct portal_config *cfg)
{
    char path[600], certp[600], keyp[600], host[128], *cert = NULL, *key = NULL;
    struct sockaddr_storage ss;
    struct MHD_Daemon *d = NULL;
    sigset_t set;
    int sig, ret = 1;
    unsigned port;
    const char *colon = strrchr(cfg->listen, ':');

    memset(&P, 0, sizeof P);
    pthread_mutex_init(&P.lock, NULL);
    P.idle = cfg->idle_timeout ? cfg->idle_timeout : 900;
    if (!colon || colon == cfg->listen || (size_t)(colon - cfg->listen) >= sizeof host ||
        !(port = (unsigned)strtoul(colon + 1, NULL, 10)) || port > 65535) {
        fprintf(stderr, "tpmiot portal: --listen needs ADDR:PORT, e.g. 127.0.0.1:8080\n");
        return 2;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - cfg->listen), cfg->listen);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    memset(&ss, 0, sizeof ss);
    if (strchr(host, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            goto badaddr;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            goto badaddr;
    }
    /* No default password: the administrator sets one first. */
    pw_path(cfg->state_dir, path, sizeof path);
    char *pw = slurp(path);
    if (!pw || strncmp(pw, "pbkdf2-sha256:", 14)) {
        free(pw);
        fprintf(stderr, "tpmiot portal: no password set; run `tpmiot portal set-password` "
                        "first\n");
        return 1;
    }
    snprintf(P.pw_line, sizeof P.pw_line, "%s", pw);
    free(pw);
    if (cfg->cert && cfg->key) {
        snprintf(certp, sizeof certp, "%s", cfg->cert);
        snprintf(keyp, sizeof keyp, "%s", cfg->key);
    } else {
        snprintf(certp, sizeof certp, "%s/cert.pem", cfg->state_dir);
        snprintf(keyp, sizeof keyp, "%s/key.pem", cfg->state_dir);
        if (access(certp, R_OK) && make_cert(certp, keyp)) {
            fprintf(stderr, "tpmiot portal: cannot create a certificate in %s\n", cfg->state_dir);
            return 1;
        }
    }
    if (!(cert = slurp(certp)) || !(key = slurp(keyp))) {
        fprintf(stderr, "tpmiot portal: cannot read %s or %s\n", certp, keyp);
        goto out;
    }
    tpmiot_rc rc = tpmiot_tpm_open(&P.tpm, cfg->tcti);
    if (rc) {
        char cause[200];
        fprintf(stderr, "tpmiot portal: cannot open the TPM: %s (%s)\n", tpmiot_strerror(rc),
                tpmiot_tpm_last_cause(NULL, cause, sizeof cause));
        goto out;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                             MHD_USE_TLS | (strchr(host, ':') ? MHD_USE_IPv6 : 0),
                         (uint16_t)port, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &ss,
                         MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_CERT, cert,
                         MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                         30u, MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "tpmiot portal: cannot listen on %s (in use?)\n", cfg->listen);
        goto out;
    }
    fprintf(stderr, "tpmiot portal: https://%s/ (certificate %s)\n", cfg->listen, certp);
    sigwait(&set, &sig);
    fprintf(stderr, "tpmiot portal: stopping\n");
    ret = 0;
out:
    if (d)
        MHD_stop_daemon(d);
    tpmiot_tpm_close(&P.tpm);
    if (key) {
        OPENSSL_cleanse(key, strlen(key));
        free(key);
    }
    free(cert);
    OPENSSL_cleanse(P.pw_line, sizeof P.pw_line);
    return ret;
badaddr:
    fprintf(stderr, "tpmiot portal: '%s' is not an IP address\n", host);
    return 2;
}
