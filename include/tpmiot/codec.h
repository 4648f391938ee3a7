/* tpmiot — the text formats around identities: base64, URL encoding,
 * connection strings and Azure's id rules. Pure functions, thread-safe. */
#ifndef TPMIOT_CODEC_H
#define TPMIOT_CODEC_H

#include <tpmiot/errors.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Standard base64 (RFC 4648, with padding) of in[0..len) into out, which must
 * hold 4*ceil(len/3)+1 bytes (*out_len in: capacity, out: length without NUL).
 */
TPMIOT_API tpmiot_rc tpmiot_base64_encode(const void *in, size_t len, char *out, size_t *out_len);

/*
 * Strict base64 decode: padding required, no whitespace, no characters after
 * the padding, unused bits zero. *out_len in: capacity, out: decoded length.
 * Returns TPMIOT_E_BAD_KEY on malformed text.
 */
TPMIOT_API tpmiot_rc tpmiot_base64_decode(const char *in, size_t len, uint8_t *out,
                                          size_t *out_len);

/*
 * Percent-encodes in (RFC 3986: everything but A-Z a-z 0-9 - . _ ~) into out.
 * *out_len in: capacity (3*len+1 always suffices), out: length.
 */
TPMIOT_API tpmiot_rc tpmiot_url_encode(const char *in, size_t len, char *out, size_t *out_len);

/*
 * Decodes %XX escapes (and '+' stays '+'). Refuses a truncated or non-hex
 * escape and an encoded NUL. *out_len in: capacity, out: length.
 */
TPMIOT_API tpmiot_rc tpmiot_url_decode(const char *in, size_t len, char *out, size_t *out_len);

/* Azure's device/module id rule: 1-128 of [A-Za-z0-9-.%_*?!(),:=@$']. */
TPMIOT_API tpmiot_rc tpmiot_device_id_check(const char *id);
/* Hostname: 1-255 of [A-Za-z0-9.-], no empty label. */
TPMIOT_API tpmiot_rc tpmiot_hostname_check(const char *host);

/* A connection string taken apart. Fields are "" when absent. */
typedef struct {
    char host_name[256];
    char device_id[129];
    char module_id[129];
    char shared_access_key[128];      /* base64 text, as given */
    char shared_access_key_name[128]; /* hub policy name */
    char shared_access_signature[1200];
    char gateway_host_name[256];
} tpmiot_connstr;

/*
 * Parses "Key=value;Key=value[;]". Known keys: HostName, DeviceId, ModuleId,
 * SharedAccessKey, SharedAccessKeyName, SharedAccessSignature, GatewayHostName.
 * Refuses empty values, repeated keys (TPMIOT_E_CONNSTR_DUP), unknown keys
 * (TPMIOT_E_CONNSTR_UNKNOWN) and values that break the id rules. Checks no
 * field is required; callers check what they need. Wipe *out when done: it
 * may hold a key (tpmiot_connstr_wipe).
 */
TPMIOT_API tpmiot_rc tpmiot_connstr_parse(const char *s, tpmiot_connstr *out);
TPMIOT_API void tpmiot_connstr_wipe(tpmiot_connstr *c);

/* One property of a message: key and value as text (UTF-8). */
typedef struct {
    const char *key;
    const char *value;
} tpmiot_prop;

/*
 * The property bag of a hub topic: "k=v&k2=v2" with keys and values
 * URL-encoded (so "$.mid" is "%24.mid"). *out_len in: capacity, out: length.
 */
TPMIOT_API tpmiot_rc tpmiot_propbag_encode(const tpmiot_prop *props, size_t n, char *out,
                                           size_t *out_len);

/*
 * Splits and decodes a property bag in place: bag is modified and the
 * props[i] point into it. *n in: capacity of props, out: count. A key
 * without '=' gets the value "". Refuses bad escapes, empty keys and more
 * properties than fit (TPMIOT_E_BUFFER_SMALL).
 */
TPMIOT_API tpmiot_rc tpmiot_propbag_decode(char *bag, tpmiot_prop *props, size_t *n);

/* Overwrites len bytes at p in a way the compiler cannot drop. */
TPMIOT_API void tpmiot_wipe(void *p, size_t len);

#ifdef __cplusplus
}
#endif
#endif
