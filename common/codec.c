/* Text formats around identities: base64, URL encoding, ids, connection strings. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <openssl/crypto.h>

#include <tpmiot/codec.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void tpmiot_wipe(void *p, size_t len)
{
    if (p && len)
        OPENSSL_cleanse(p, len);
}

tpmiot_rc tpmiot_base64_encode(const void *in, size_t len, char *out, size_t *out_len)
{
    const uint8_t *s = in;
    size_t need, o = 0;

    if ((!in && len) || !out || !out_len)
        return TPMIOT_E_INVALID_ARG;
    need = (len + 2) / 3 * 4;
    if (*out_len < need + 1)
        return TPMIOT_E_BUFFER_SMALL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < len)
            v |= s[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    *out_len = o;
    return TPMIOT_OK;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

tpmiot_rc tpmiot_base64_decode(const char *in, size_t len, uint8_t *out, size_t *out_len)
{
    size_t o = 0, pad = 0;

    if ((!in && len) || !out || !out_len)
        return TPMIOT_E_INVALID_ARG;
    if (len % 4)
        return TPMIOT_E_BAD_KEY;
    if (len && in[len - 1] == '=')
        pad = (len >= 2 && in[len - 2] == '=') ? 2 : 1;
    if (*out_len < len / 4 * 3 - pad)
        return TPMIOT_E_BUFFER_SMALL;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        bool last = i + 4 == len;
        for (int k = 0; k < 4; k++) {
            char c = in[i + k];
            if (c == '=' && last && k >= 4 - (int)pad) {
                v[k] = 0;
                continue;
            }
            v[k] = b64_value(c);
            if (v[k] < 0)
                goto bad;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
        /* Bits under the padding must be zero, or two texts decode alike. */
        if (last && pad == 2 && (w & 0xffff))
            goto bad;
        if (last && pad == 1 && (w & 0xff))
            goto bad;
        out[o++] = (uint8_t)(w >> 16);
        if (!(last && pad == 2))
            out[o++] = (uint8_t)(w >> 8);
        if (!(last && pad >= 1))
            out[o++] = (uint8_t)w;
    }
    *out_len = o;
    return TPMIOT_OK;
bad:
    tpmiot_wipe(out, o);
    return TPMIOT_E_BAD_KEY;
}

static bool url_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

tpmiot_rc tpmiot_url_encode(const char *in, size_t len, char *out, size_t *out_len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    if ((!in && len) || !out || !out_len)
        return TPMIOT_E_INVALID_ARG;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        size_t need = url_unreserved(c) ? 1 : 3;
        if (o + need + 1 > *out_len)
            return TPMIOT_E_BUFFER_SMALL;
        if (need == 1) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o + 1 > *out_len)
        return TPMIOT_E_BUFFER_SMALL;
    out[o] = '\0';
    *out_len = o;
    return TPMIOT_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

tpmiot_rc tpmiot_url_decode(const char *in, size_t len, char *out, size_t *out_len)
{
    size_t o = 0;

    if ((!in && len) || !out || !out_len)
        return TPMIOT_E_INVALID_ARG;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= len)
                return TPMIOT_E_INVALID_ARG;
            h = hexval(in[i + 1]);
            l = hexval(in[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0))
                return TPMIOT_E_INVALID_ARG;
            c = (char)(h << 4 | l);
            i += 2;
        }
        if (o + 2 > *out_len)
            return TPMIOT_E_BUFFER_SMALL;
        out[o++] = c;
    }
    if (o + 1 > *out_len)
        return TPMIOT_E_BUFFER_SMALL;
    out[o] = '\0';
    *out_len = o;
    return TPMIOT_OK;
}

tpmiot_rc tpmiot_device_id_check(const char *id)
{
    size_t n;

    if (!id)
        return TPMIOT_E_INVALID_ARG;
    n = strlen(id);
    if (n == 0 || n > 128)
        return TPMIOT_E_BAD_DEVICE_ID;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            continue;
        if (!strchr("-.%_*?!(),:=@$'", c) || c == '\0')
            return TPMIOT_E_BAD_DEVICE_ID;
    }
    return TPMIOT_OK;
}

tpmiot_rc tpmiot_hostname_check(const char *host)
{
    size_t n, label = 0;

    if (!host)
        return TPMIOT_E_INVALID_ARG;
    n = strlen(host);
    if (n == 0 || n > 255)
        return TPMIOT_E_BAD_HOSTNAME;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)host[i];
        if (c == '.') {
            if (label == 0)
                return TPMIOT_E_BAD_HOSTNAME;
            label = 0;
            continue;
        }
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return TPMIOT_E_BAD_HOSTNAME;
        if (++label > 63)
            return TPMIOT_E_BAD_HOSTNAME;
    }
    return label ? TPMIOT_OK : TPMIOT_E_BAD_HOSTNAME;
}

void tpmiot_connstr_wipe(tpmiot_connstr *c)
{
    tpmiot_wipe(c, sizeof *c);
}

struct field {
    const char *name;
    size_t off, cap;
};

#define F(n, m)                                                                                    \
    {                                                                                              \
        n, offsetof(tpmiot_connstr, m), sizeof(((tpmiot_connstr *)0)->m)                           \
    }
static const struct field fields[] = {
    F("HostName", host_name),
    F("DeviceId", device_id),
    F("ModuleId", module_id),
    F("SharedAccessKey", shared_access_key),
    F("SharedAccessKeyName", shared_access_key_name),
    F("SharedAccessSignature", shared_access_signature),
    F("GatewayHostName", gateway_host_name),
};
#undef F

tpmiot_rc tpmiot_connstr_parse(const char *s, tpmiot_connstr *out)
{
    tpmiot_rc rc = TPMIOT_OK;
    const char *p;

    if (!s || !out)
        return TPMIOT_E_INVALID_ARG;
    memset(out, 0, sizeof *out);
    p = s;
    /* A trailing newline from a file is common and harmless. */
    size_t total = strlen(s);
    while (total && (s[total - 1] == '\n' || s[total - 1] == '\r'))
        total--;
    if (total == 0)
        return TPMIOT_E_CONNSTR;
    const char *end = s + total;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *stop = semi ? semi : end;
        /* The value may itself contain '=' (base64 padding, SAS tokens), so
         * split at the first '=' only. */
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const struct field *f = NULL;
        size_t klen, vlen;
        char *dst;

        if (!eq || eq == p || eq + 1 == stop) {
            rc = TPMIOT_E_CONNSTR;
            goto out;
        }
        klen = (size_t)(eq - p);
        vlen = (size_t)(stop - eq - 1);
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
            if (strlen(fields[i].name) == klen && !memcmp(fields[i].name, p, klen))
                f = &fields[i];
        if (!f) {
            rc = TPMIOT_E_CONNSTR_UNKNOWN;
            goto out;
        }
        dst = (char *)out + f->off;
        if (dst[0]) {
            rc = TPMIOT_E_CONNSTR_DUP;
            goto out;
        }
        if (vlen >= f->cap || memchr(eq + 1, '\0', vlen)) {
            rc = TPMIOT_E_CONNSTR;
            goto out;
        }
        memcpy(dst, eq + 1, vlen);
        dst[vlen] = '\0';
        p = semi ? semi + 1 : end;
        /* "a=b;" is fine, "a=b;;" is not: an empty field. */
        if (semi && p == end)
            break;
    }
    if (out->host_name[0] && (rc = tpmiot_hostname_check(out->host_name)))
        goto out;
    if (out->gateway_host_name[0] && (rc = tpmiot_hostname_check(out->gateway_host_name)))
        goto out;
    if (out->device_id[0] && (rc = tpmiot_device_id_check(out->device_id)))
        goto out;
    if (out->module_id[0] && tpmiot_device_id_check(out->module_id)) {
        rc = TPMIOT_E_BAD_MODULE_ID;
        goto out;
    }
out:
    if (rc)
        tpmiot_connstr_wipe(out);
    return rc;
}

tpmiot_rc tpmiot_propbag_encode(const tpmiot_prop *props, size_t n, char *out, size_t *out_len)
{
    size_t o = 0;

    if ((!props && n) || !out || !out_len || *out_len == 0)
        return TPMIOT_E_INVALID_ARG;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t room;
        tpmiot_rc rc;
        if (!props[i].key || !*props[i].key)
            return TPMIOT_E_INVALID_ARG;
        if (i) {
            if (o + 2 > *out_len)
                return TPMIOT_E_BUFFER_SMALL;
            out[o++] = '&';
        }
        room = *out_len - o;
        if ((rc = tpmiot_url_encode(props[i].key, strlen(props[i].key), out + o, &room)))
            return rc;
        o += room;
        if (o + 2 > *out_len)
            return TPMIOT_E_BUFFER_SMALL;
        out[o++] = '=';
        room = *out_len - o;
        const char *v = props[i].value ? props[i].value : "";
        if ((rc = tpmiot_url_encode(v, strlen(v), out + o, &room)))
            return rc;
        o += room;
    }
    out[o] = '\0';
    *out_len = o;
    return TPMIOT_OK;
}

tpmiot_rc tpmiot_propbag_decode(char *bag, tpmiot_prop *props, size_t *n)
{
    size_t k = 0;
    char *p = bag;

    if (!bag || !props || !n)
        return TPMIOT_E_INVALID_ARG;
    while (*p) {
        char *amp = strchr(p, '&'), *eq, *v;
        size_t len;
        if (amp)
            *amp = '\0';
        if (*p) {
            if (k == *n)
                return TPMIOT_E_BUFFER_SMALL;
            eq = strchr(p, '=');
            v = eq ? eq + 1 : p + strlen(p);
            if (eq)
                *eq = '\0';
            len = strlen(p) + 1;
            if (!*p || tpmiot_url_decode(p, strlen(p), p, &len))
                return TPMIOT_E_INVALID_ARG;
            len = strlen(v) + 1;
            if (tpmiot_url_decode(v, strlen(v), v, &len))
                return TPMIOT_E_INVALID_ARG;
            props[k].key = p;
            props[k].value = v;
            k++;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    *n = k;
    return TPMIOT_OK;
}
