/* tpmiot — opening a TPM and managing the ten identity slots in it. */
#ifndef TPMIOT_SLOT_H
#define TPMIOT_SLOT_H

#include <stdbool.h>
#include <tpmiot/errors.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TPMIOT_SLOT_COUNT 10
#define TPMIOT_SRK_HANDLE 0x81000001u
#define TPMIOT_KEY_HANDLE_BASE 0x81000100u /* slot N key: base + N */
#define TPMIOT_URI_NV_BASE 0x01400100u     /* slot N URI: base + N */
#define TPMIOT_HOSTNAME_MAX 255
#define TPMIOT_ID_MAX 128 /* Azure's limit for device and module ids */
#define TPMIOT_KEY_MIN 16
#define TPMIOT_KEY_MAX 64

/* An open TPM. Not thread-safe: use one handle per thread, or lock. */
typedef struct tpmiot_tpm tpmiot_tpm;

/*
 * Opens a TPM. tcti_conf is a tss2 TCTI string ("swtpm:path=/run/x.sock",
 * "device:/dev/tpmrm0"); NULL means: $TPMIOT_TCTI, else /dev/tpmrm0, else the
 * software TPM of `tpmiot simulator start` for this user. Finishes any slot
 * change an earlier process was interrupted in (see docs/internals.md).
 * On success *out is a new handle to release with tpmiot_tpm_close().
 * Returns TPMIOT_E_NO_TPM when nothing was found, TPMIOT_E_TCTI when the
 * TCTI could not connect, TPMIOT_E_TPM when the TPM refused; the TSS cause
 * of a failed open is kept per thread for tpmiot_tpm_last_cause(NULL, ..).
 */
TPMIOT_API tpmiot_rc tpmiot_tpm_open(tpmiot_tpm **out, const char *tcti_conf);

/* Closes *t and sets it to NULL. NULL and *t == NULL are accepted. */
TPMIOT_API void tpmiot_tpm_close(tpmiot_tpm **t);

/* The TCTI string the handle was opened with; owned by t. */
TPMIOT_API const char *tpmiot_tpm_tcti(const tpmiot_tpm *t);

/*
 * The raw TSS2_RC of the last failed TPM/TSS call on t (0 if none), and a
 * decoded text of it (Tss2_RC_Decode) written to buf. Use after a function
 * returned TPMIOT_E_TPM or TPMIOT_E_TCTI to tell the user what the TPM said.
 * With t == NULL: the cause of this thread's last failed tpmiot_tpm_open().
 */
TPMIOT_API uint32_t tpmiot_tpm_last_tss_rc(const tpmiot_tpm *t);
TPMIOT_API const char *tpmiot_tpm_last_cause(const tpmiot_tpm *t, char *buf, size_t len);

/* Which TPM this is. */
typedef struct {
    char manufacturer[5]; /* TPM2_PT_MANUFACTURER as 4 ASCII characters */
    char vendor[17];      /* TPM2_PT_VENDOR_STRING_1..4 concatenated */
    uint32_t firmware1;   /* TPM2_PT_FIRMWARE_VERSION_1 */
    uint32_t firmware2;   /* TPM2_PT_FIRMWARE_VERSION_2 */
    char family[5];       /* "2.0" */
    uint32_t revision;    /* spec revision * 100, e.g. 164 */
    bool software;        /* a software TPM (swtpm/libtpms or the MS simulator) */
} tpmiot_tpm_info;

TPMIOT_API tpmiot_rc tpmiot_tpm_info_get(tpmiot_tpm *t, tpmiot_tpm_info *out);

/* What a slot holds. Strings are NUL-terminated and empty when absent. */
typedef struct {
    unsigned slot;
    bool key_present;       /* a persistent HMAC key at TPMIOT_KEY_HANDLE_BASE + slot */
    bool uri_present;       /* an NV URI at TPMIOT_URI_NV_BASE + slot */
    bool device_id_derived; /* URI has no device id; device_id is the TPM-derived one */
    char hostname[TPMIOT_HOSTNAME_MAX + 1];
    char device_id[TPMIOT_ID_MAX + 1];
    char module_id[TPMIOT_ID_MAX + 1];
} tpmiot_slot_info;

/*
 * Reads slot `slot` into *out. An empty slot is not an error: both present
 * flags are false. Returns TPMIOT_E_SLOT_CORRUPT when the URI in the TPM is
 * not "host/device[/module]" with valid parts.
 */
TPMIOT_API tpmiot_rc tpmiot_slot_info_get(tpmiot_tpm *t, unsigned slot, tpmiot_slot_info *out);

/*
 * Reads all ten slots into out[0..9] with a few TPM commands. A corrupt slot
 * is reported with both flags as found and empty strings; the call succeeds.
 */
TPMIOT_API tpmiot_rc tpmiot_slot_list(tpmiot_tpm *t, tpmiot_slot_info out[TPMIOT_SLOT_COUNT]);

/* The identity to put into a slot. module_id may be NULL or "". device_id
 * NULL or "" stores the hostname alone; the slot then uses the TPM-derived id. */
typedef struct {
    const char *hostname;
    const char *device_id;
    const char *module_id;
} tpmiot_identity;

/*
 * Puts an identity and its key into slot `slot`, replacing what is there.
 * key/key_len is the decoded shared access key (16-64 bytes); the function
 * wipes key[0..key_len) on every path, success or not, so the caller's copy
 * is gone when it returns. Creates the storage root key when absent.
 * Atomic: if the process dies at any point, the slot afterwards holds the old
 * identity or the new one (the next tpmiot_tpm_open finishes the change).
 */
TPMIOT_API tpmiot_rc tpmiot_slot_provision(tpmiot_tpm *t, unsigned slot, const tpmiot_identity *id,
                                           uint8_t *key, size_t key_len);

/*
 * Like tpmiot_slot_provision() from a device connection string
 * "HostName=..;DeviceId=..;[ModuleId=..;]SharedAccessKey=..". The string is
 * wiped (to its terminating NUL) on every path.
 */
TPMIOT_API tpmiot_rc tpmiot_slot_provision_connstr(tpmiot_tpm *t, unsigned slot, char *connstr);

/* Removes the key and the URI of a slot, atomically. An empty slot is OK. */
TPMIOT_API tpmiot_rc tpmiot_slot_destroy(tpmiot_tpm *t, unsigned slot);

/*
 * A device id derived from the TPM for a slot that has none: lowercase hex of
 * SHA-256(slot number as one byte || name of the storage root key). Stable for
 * as long as the SRK exists. out must hold 65 bytes.
 */
TPMIOT_API tpmiot_rc tpmiot_slot_hw_device_id(tpmiot_tpm *t, unsigned slot, char out[65]);

/*
 * HMAC-SHA256 of data[0..len) with the slot's key, computed by the TPM (a
 * sequence above 1024 bytes). Any length including 0. mac receives 32 bytes.
 */
TPMIOT_API tpmiot_rc tpmiot_slot_hmac(tpmiot_tpm *t, unsigned slot, const void *data, size_t len,
                                      uint8_t mac[32]);

#ifdef __cplusplus
}
#endif
#endif
