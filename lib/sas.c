/* SAS tokens: one format, signed by a TPM slot or by a key in memory. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <tpmiot/codec.h>
#include <tpmiot/sas.h>
#include "tpm_int.h"

#define SAS_PREFIX "SharedAccessSignature "
#define DEFAULT_TTL 3600

struct tpmiot_signer {
    tpmiot_tpm *tpm; /* NULL for a key in memory */
    uint32_t ref;    /* backend key reference */
    uint8_t key[TPMIOT_KEY_MAX];
    size_t key_len;
    bool hub_level;
    char hostname[TPMIOT_HOSTNAME_MAX + 1];
    char device_id[TPMIOT_ID_MAX + 1];
    char module_id[TPMIOT_ID_MAX + 1];
};

tpmiot_rc tpmiot_signer_from_slot(tpmiot_signer **out, tpmiot_tpm *t, unsigned slot)
{
    tpmiot_slot_info info;
    tpmiot_signer *s;
    tpmiot_rc rc;

    if (!out || !t)
        return TPMIOT_E_INVALID_ARG;
    *out = NULL;
    if ((rc = tpmiot_slot_info_get(t, slot, &info)))
        return rc;
    if (!info.key_present)
        return info.uri_present ? TPMIOT_E_NO_KEY : TPMIOT_E_SLOT_EMPTY;
    if (!info.uri_present)
        return TPMIOT_E_SLOT_EMPTY;
    if (!(s = calloc(1, sizeof *s)))
        return TPMIOT_E_NOMEM;
    if ((rc = t->be->key_open(t, TPMIOT_KEY_HANDLE_BASE + slot, &s->ref))) {
        free(s);
        return rc == TPMIOT_E_SLOT_EMPTY ? TPMIOT_E_NO_KEY : rc;
    }
    s->tpm = t;
    memcpy(s->hostname, info.hostname, sizeof s->hostname);
    memcpy(s->device_id, info.device_id, sizeof s->device_id);
    memcpy(s->module_id, info.module_id, sizeof s->module_id);
    *out = s;
    return TPMIOT_OK;
}

tpmiot_rc tpmiot_signer_from_key(tpmiot_signer **out, const tpmiot_identity *id, const uint8_t *key,
                                 size_t key_len)
{
    tpmiot_signer *s;
    const char *dev, *mod;
    tpmiot_rc rc;

    if (!out || !id || !key)
        return TPMIOT_E_INVALID_ARG;
    *out = NULL;
    dev = id->device_id ? id->device_id : "";
    mod = id->module_id ? id->module_id : "";
    /* No 16-byte floor here: that is a policy for what goes into a slot. Keys
     * in memory include short test keys from other SDKs' known answers. */
    if (key_len == 0 || key_len > TPMIOT_KEY_MAX)
        return TPMIOT_E_BAD_KEY;
    if ((rc = slot__identity_check(id)))
        return rc;
    if (!(s = calloc(1, sizeof *s)))
        return TPMIOT_E_NOMEM;
    memcpy(s->key, key, key_len);
    s->key_len = key_len;
    s->hub_level = !*dev;
    snprintf(s->hostname, sizeof s->hostname, "%s", id->hostname);
    snprintf(s->device_id, sizeof s->device_id, "%s", dev);
    snprintf(s->module_id, sizeof s->module_id, "%s", mod);
    *out = s;
    return TPMIOT_OK;
}

void tpmiot_signer_free(tpmiot_signer **s)
{
    if (!s || !*s)
        return;
    if ((*s)->tpm)
        (*s)->tpm->be->key_close((*s)->tpm, (*s)->ref);
    OPENSSL_cleanse(*s, sizeof **s);
    free(*s);
    *s = NULL;
}

const char *tpmiot_signer_hostname(const tpmiot_signer *s)
{
    return s ? s->hostname : "";
}

const char *tpmiot_signer_device_id(const tpmiot_signer *s)
{
    return s ? s->device_id : "";
}

const char *tpmiot_signer_module_id(const tpmiot_signer *s)
{
    return s ? s->module_id : "";
}

tpmiot_rc tpmiot_signer_hmac(tpmiot_signer *s, const void *data, size_t len, uint8_t mac[32])
{
    unsigned int n = 32;

    if (!s || (!data && len) || !mac)
        return TPMIOT_E_INVALID_ARG;
    if (s->tpm)
        return s->tpm->be->hmac(s->tpm, s->ref, data, len, mac);
    if (!HMAC(EVP_sha256(), s->key, (int)s->key_len, data ? data : (const void *)"", len, mac, &n))
        return TPMIOT_E_CRYPTO;
    return TPMIOT_OK;
}

static tpmiot_rc resource(const tpmiot_signer *s, bool encoded, char *out, size_t len)
{
    char raw[TPMIOT_HOSTNAME_MAX + 2 * TPMIOT_ID_MAX + 32];
    size_t n = len;
    int k;

    if (s->hub_level)
        k = snprintf(raw, sizeof raw, "%s", s->hostname);
    else if (s->module_id[0])
        k = snprintf(raw, sizeof raw, "%s/devices/%s/modules/%s", s->hostname, s->device_id,
                     s->module_id);
    else
        k = snprintf(raw, sizeof raw, "%s/devices/%s", s->hostname, s->device_id);
    if (k < 0 || (size_t)k >= sizeof raw)
        return TPMIOT_E_INVALID_ARG;
    if (encoded)
        return tpmiot_url_encode(raw, (size_t)k, out, &n);
    if ((size_t)k >= len)
        return TPMIOT_E_BUFFER_SMALL;
    memcpy(out, raw, (size_t)k + 1);
    return TPMIOT_OK;
}

static tpmiot_rc policy_check(const char *p)
{
    size_t n = strlen(p);

    if (n == 0 || n > 64)
        return TPMIOT_E_BAD_POLICY;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return TPMIOT_E_BAD_POLICY;
    }
    return TPMIOT_OK;
}

/* base64(HMAC(key, "sr\nse")) into b64 (48 bytes). */
static tpmiot_rc sign_b64(tpmiot_signer *s, const char *sr, const char *se, char *b64, size_t *n)
{
    char sts[1100];
    uint8_t mac[32];
    int k = snprintf(sts, sizeof sts, "%s\n%s", sr, se);
    tpmiot_rc rc;

    if (k < 0 || (size_t)k >= sizeof sts)
        return TPMIOT_E_INVALID_ARG;
    if ((rc = tpmiot_signer_hmac(s, sts, (size_t)k, mac)))
        return rc;
    rc = tpmiot_base64_encode(mac, sizeof mac, b64, n);
    OPENSSL_cleanse(mac, sizeof mac);
    return rc;
}

/* Signs "sr\nse" and URL-encodes the base64 of it into sig. */
static tpmiot_rc sign(tpmiot_signer *s, const char *sr, const char *se, char *sig, size_t sig_len)
{
    char b64[48];
    size_t n = sizeof b64;
    tpmiot_rc rc = sign_b64(s, sr, se, b64, &n);

    if (!rc)
        rc = tpmiot_url_encode(b64, n, sig, &sig_len);
    return rc;
}

tpmiot_rc tpmiot_sas_build(tpmiot_signer *s, const tpmiot_sas_options *o, char **token)
{
    static const tpmiot_sas_options defaults = {0};
    char sr[1024], sig[160], se[24];
    uint64_t expiry;
    size_t cap;
    char *tok;
    tpmiot_rc rc;

    if (!s || !token)
        return TPMIOT_E_INVALID_ARG;
    *token = NULL;
    if (!o)
        o = &defaults;
    if (o->policy && (rc = policy_check(o->policy)))
        return rc;
    if (o->expiry) {
        expiry = o->expiry;
    } else {
        uint64_t ttl = o->ttl ? o->ttl : DEFAULT_TTL;
        uint64_t now = (uint64_t)time(NULL);
        if (ttl > UINT32_MAX * 4ULL)
            return TPMIOT_E_BAD_EXPIRY;
        expiry = now + ttl;
    }
    if (expiry > 253402300799ULL) /* 9999-12-31: no SDK parses beyond */
        return TPMIOT_E_BAD_EXPIRY;
    snprintf(se, sizeof se, "%" PRIu64, expiry);
    if ((rc = resource(s, o->encoded_resource, sr, sizeof sr)))
        return rc;
    if ((rc = sign(s, sr, se, sig, sizeof sig)))
        return rc;
    cap = strlen(SAS_PREFIX) + strlen(sr) + strlen(sig) + strlen(se) + 80;
    if (!(tok = malloc(cap)))
        return TPMIOT_E_NOMEM;
    /* The order Azure's SDKs write: sr, sig, [skn,] se. */
    if (o->policy)
        snprintf(tok, cap, SAS_PREFIX "sr=%s&sig=%s&skn=%s&se=%s", sr, sig, o->policy, se);
    else
        snprintf(tok, cap, SAS_PREFIX "sr=%s&sig=%s&se=%s", sr, sig, se);
    *token = tok;
    return TPMIOT_OK;
}

tpmiot_rc tpmiot_sas_connection_string(tpmiot_signer *s, const tpmiot_sas_options *o, char **out)
{
    char *tok = NULL, *cs;
    size_t cap;
    tpmiot_rc rc;

    if (!s || !out)
        return TPMIOT_E_INVALID_ARG;
    *out = NULL;
    if (s->hub_level)
        return TPMIOT_E_INVALID_ARG;
    if ((rc = tpmiot_sas_build(s, o, &tok)))
        return rc;
    cap = strlen(tok) + strlen(s->hostname) + strlen(s->device_id) + strlen(s->module_id) + 80;
    if (!(cs = malloc(cap))) {
        tpmiot_free(tok);
        return TPMIOT_E_NOMEM;
    }
    if (s->module_id[0])
        snprintf(cs, cap, "HostName=%s;DeviceId=%s;ModuleId=%s;SharedAccessSignature=%s",
                 s->hostname, s->device_id, s->module_id, tok);
    else
        snprintf(cs, cap, "HostName=%s;DeviceId=%s;SharedAccessSignature=%s", s->hostname,
                 s->device_id, tok);
    tpmiot_free(tok);
    *out = cs;
    return TPMIOT_OK;
}

static tpmiot_rc copy_field(const char *v, size_t n, char *dst, size_t cap)
{
    if (dst[0] || n == 0)
        return TPMIOT_E_BAD_TOKEN; /* repeated or empty */
    if (n >= cap)
        return TPMIOT_E_BAD_TOKEN;
    memcpy(dst, v, n);
    dst[n] = '\0';
    return TPMIOT_OK;
}

tpmiot_rc tpmiot_sas_parse(const char *token, tpmiot_sas_parts *out)
{
    char sig_enc[sizeof out->sig * 3], se[24] = "";
    const char *p, *end;
    size_t n;
    tpmiot_rc rc = TPMIOT_OK;

    if (!token || !out)
        return TPMIOT_E_INVALID_ARG;
    memset(out, 0, sizeof *out);
    sig_enc[0] = '\0';
    n = strlen(token);
    if (n > 4096 || strncmp(token, SAS_PREFIX, strlen(SAS_PREFIX)))
        return TPMIOT_E_BAD_TOKEN;
    p = token + strlen(SAS_PREFIX);
    end = token + n;
    while (p < end && !rc) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        size_t klen;

        if (!eq)
            return TPMIOT_E_BAD_TOKEN;
        klen = (size_t)(eq - p);
        eq++;
        n = (size_t)(stop - eq);
        if (klen == 2 && !memcmp(p, "sr", 2))
            rc = copy_field(eq, n, out->sr, sizeof out->sr);
        else if (klen == 3 && !memcmp(p, "sig", 3))
            rc = copy_field(eq, n, sig_enc, sizeof sig_enc);
        else if (klen == 2 && !memcmp(p, "se", 2))
            rc = copy_field(eq, n, se, sizeof se);
        else if (klen == 3 && !memcmp(p, "skn", 3))
            rc = copy_field(eq, n, out->skn, sizeof out->skn);
        else
            rc = TPMIOT_E_BAD_TOKEN;
        p = amp ? amp + 1 : end;
        if (amp && p == end)
            rc = TPMIOT_E_BAD_TOKEN;
    }
    if (rc)
        goto out;
    if (!out->sr[0] || !sig_enc[0] || !se[0] || strlen(se) > 20) {
        rc = TPMIOT_E_BAD_TOKEN;
        goto out;
    }
    for (const char *c = se; *c; c++)
        if (*c < '0' || *c > '9') {
            rc = TPMIOT_E_BAD_TOKEN;
            goto out;
        }
    out->se = strtoull(se, NULL, 10);
    snprintf(out->se_text, sizeof out->se_text, "%s", se);
    n = sizeof out->sig;
    if (tpmiot_url_decode(sig_enc, strlen(sig_enc), out->sig, &n))
        rc = TPMIOT_E_BAD_TOKEN;
    if (!rc && out->skn[0] && policy_check(out->skn))
        rc = TPMIOT_E_BAD_TOKEN;
out:
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

tpmiot_rc tpmiot_sas_verify(tpmiot_signer *s, const char *token, uint64_t now)
{
    tpmiot_sas_parts parts;
    char want[48];
    size_t n = sizeof want;
    tpmiot_rc rc;

    if (!s || !token)
        return TPMIOT_E_INVALID_ARG;
    if ((rc = tpmiot_sas_parse(token, &parts)))
        return rc;
    /* Re-sign exactly the sr that was received: raw and encoded forms both
     * verify, each against its own bytes. parse URL-decoded the signature,
     * so it is compared with the base64 text directly. */
    if ((rc = sign_b64(s, parts.sr, parts.se_text, want, &n)))
        return rc;
    if (strlen(parts.sig) != n || CRYPTO_memcmp(parts.sig, want, n))
        return TPMIOT_E_SIGNATURE;
    if (parts.se < now)
        return TPMIOT_E_TOKEN_EXPIRED;
    return TPMIOT_OK;
}
