/* tpmiot — shared access signature (SAS) tokens, signed in the TPM or in memory. */
#ifndef TPMIOT_SAS_H
#define TPMIOT_SAS_H

#include <stdbool.h>
#include <tpmiot/errors.h>
#include <tpmiot/slot.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A signer holds an identity (hostname, device id, module id) and a way to
 * HMAC-SHA256 with its key: a TPM slot, or a key in memory. One token format,
 * whatever signs it. Not thread-safe; a TPM signer also uses its tpmiot_tpm,
 * which must outlive it.
 */
typedef struct tpmiot_signer tpmiot_signer;

/*
 * A signer over TPM slot `slot` of t. Reads the slot's URI and resolves its
 * key once, so that each later token costs exactly one TPM2_HMAC. A slot with
 * a key but no device id gets the TPM-derived id (tpmiot_slot_hw_device_id).
 * Returns TPMIOT_E_SLOT_EMPTY for a slot without a key.
 */
TPMIOT_API tpmiot_rc tpmiot_signer_from_slot(tpmiot_signer **out, tpmiot_tpm *t, unsigned slot);

/*
 * A signer over a key held in memory (1-64 bytes; slots take 16-64, other
 * SDKs' test vectors use shorter ones). id->device_id may be NULL for a
 * hub-level signer (resource = hostname, as for policy tokens). The key is
 * copied into memory the signer owns and wipes on tpmiot_signer_free(); the
 * caller's copy stays the caller's to wipe.
 */
TPMIOT_API tpmiot_rc tpmiot_signer_from_key(tpmiot_signer **out, const tpmiot_identity *id,
                                            const uint8_t *key, size_t key_len);

/* Releases *s (wiping any key in it) and sets it to NULL; NULL is accepted. */
TPMIOT_API void tpmiot_signer_free(tpmiot_signer **s);

/* The signer's identity; owned by s. module id is "" when there is none. */
TPMIOT_API const char *tpmiot_signer_hostname(const tpmiot_signer *s);
TPMIOT_API const char *tpmiot_signer_device_id(const tpmiot_signer *s);
TPMIOT_API const char *tpmiot_signer_module_id(const tpmiot_signer *s);

/* HMAC-SHA256 of data with the signer's key. */
TPMIOT_API tpmiot_rc tpmiot_signer_hmac(tpmiot_signer *s, const void *data, size_t len,
                                        uint8_t mac[32]);

/* How to build a token. Zero-initialise and set what you need. */
typedef struct {
    uint64_t expiry;       /* absolute Unix seconds; 0 = now + ttl */
    uint64_t ttl;          /* lifetime in seconds when expiry is 0; 0 = 3600 */
    bool encoded_resource; /* sr=host%2Fdevices%2Fid instead of host/devices/id */
    const char *policy;    /* skn=; NULL for device tokens */
} tpmiot_sas_options;

/*
 * Builds "SharedAccessSignature sr=..&sig=..&se=..[&skn=..]" for the signer's
 * resource: host/devices/id[/modules/mid], or host for a hub-level signer.
 * *token is allocated; release with tpmiot_free(). One HMAC per call.
 */
TPMIOT_API tpmiot_rc tpmiot_sas_build(tpmiot_signer *s, const tpmiot_sas_options *o, char **token);

/*
 * The same token as a connection string:
 * "HostName=..;DeviceId=..;[ModuleId=..;]SharedAccessSignature=SharedAccessSignature sr=..".
 * *out is allocated; release with tpmiot_free().
 */
TPMIOT_API tpmiot_rc tpmiot_sas_connection_string(tpmiot_signer *s, const tpmiot_sas_options *o,
                                                  char **out);

/* A token taken apart, copied into fixed buffers. */
typedef struct {
    char sr[1024];    /* the resource exactly as in the token (maybe URL-encoded) */
    char sig[128];    /* the signature, URL-decoded (base64 text) */
    char skn[128];    /* policy name, "" when absent */
    char se_text[24]; /* the expiry exactly as in the token (it is what was signed) */
    uint64_t se;      /* expiry */
} tpmiot_sas_parts;

/*
 * Parses a SAS token. Refuses duplicate fields, a missing sr/sig/se, a
 * non-numeric se and anything too long for tpmiot_sas_parts.
 */
TPMIOT_API tpmiot_rc tpmiot_sas_parse(const char *token, tpmiot_sas_parts *out);

/*
 * Verifies token with the signer's key: parses it, recomputes the signature
 * over exactly the sr it carries, compares in constant time, and checks the
 * expiry against now (Unix seconds). Returns TPMIOT_E_SIGNATURE,
 * TPMIOT_E_TOKEN_EXPIRED or TPMIOT_E_BAD_TOKEN on failure.
 */
TPMIOT_API tpmiot_rc tpmiot_sas_verify(tpmiot_signer *s, const char *token, uint64_t now);

#ifdef __cplusplus
}
#endif
#endif
