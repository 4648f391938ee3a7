/* Private to libtpmiot: the TPM handle and the backend table behind it. */
#ifndef TPMIOT_TPM_INT_H
#define TPMIOT_TPM_INT_H

#include <stdbool.h>
#include <tpmiot/slot.h>

/* Journal of an interrupted slot change: NV index base + slot (not Limpet's range). */
#define TPM_JOURNAL_NV_BASE 0x01400180u
/* A key object as the backend stores it outside the TPM: opaque bytes. */
#define TPM_BLOB_MAX 640
#define TPM_NAME_MAX 68
#define TPM_NV_MAX 2048

/*
 * The one seam the library has: everything it asks of a TPM. Two
 * implementations: ESYS over a TCTI (tpm/esys.c) and an in-memory fake for
 * unit tests (tpm/fake.c). Functions that change TPM state call
 * tpm__mutation() before each TPM command that does so, which is where the
 * fault-injection tests stop the process.
 * Absent handles/indices are reported as TPMIOT_E_SLOT_EMPTY.
 */
struct tpm__backend {
    const char *name;
    /* Persistent handles / NV indices present in [first, first+count). */
    tpmiot_rc (*handles)(tpmiot_tpm *t, uint32_t first, uint32_t count, uint32_t *out, size_t *n);
    /* Name of the SRK at TPMIOT_SRK_HANDLE; creates it first when create is set. */
    tpmiot_rc (*srk_name)(tpmiot_tpm *t, bool create, uint8_t *name, size_t *len);
    /* Makes an HMAC-SHA256 key object under the SRK from key bytes; no TPM state changes. */
    tpmiot_rc (*key_create)(tpmiot_tpm *t, const uint8_t *key, size_t len, uint8_t *blob,
                            size_t *blob_len);
    /* Loads blob and makes it persistent at handle (which must be free). */
    tpmiot_rc (*key_persist)(tpmiot_tpm *t, const uint8_t *blob, size_t blob_len, uint32_t handle);
    /* Whether the persistent object at handle is the one in blob. */
    tpmiot_rc (*key_matches)(tpmiot_tpm *t, uint32_t handle, const uint8_t *blob, size_t blob_len,
                             bool *match);
    tpmiot_rc (*key_evict)(tpmiot_tpm *t, uint32_t handle);
    /* A reference to a persistent key for hmac(); released with key_close. */
    tpmiot_rc (*key_open)(tpmiot_tpm *t, uint32_t handle, uint32_t *ref);
    void (*key_close)(tpmiot_tpm *t, uint32_t ref);
    tpmiot_rc (*hmac)(tpmiot_tpm *t, uint32_t ref, const uint8_t *data, size_t len,
                      uint8_t mac[32]);
    /* Whole contents of an NV index; TPMIOT_E_SLOT_CORRUPT if never written. */
    tpmiot_rc (*nv_read)(tpmiot_tpm *t, uint32_t index, uint8_t *buf, size_t *len);
    /* Defines index (must be free) with exactly len bytes and writes buf. */
    tpmiot_rc (*nv_write)(tpmiot_tpm *t, uint32_t index, const uint8_t *buf, size_t len);
    /* Undefines index; OK when absent. */
    tpmiot_rc (*nv_delete)(tpmiot_tpm *t, uint32_t index);
    tpmiot_rc (*info)(tpmiot_tpm *t, tpmiot_tpm_info *out);
    void (*close)(tpmiot_tpm *t);
};

struct tpmiot_tpm {
    const struct tpm__backend *be;
    void *impl;
    char tcti[512];
    uint32_t last_tss_rc;
    /* Test hook: asked before each state-changing TPM command; true = fail it
     * (the fake's way of dying there); the SIGKILL test never returns. */
    bool (*fault_hook)(void *arg);
    void *fault_arg;
};

extern const struct tpm__backend tpm__esys_backend;
extern const struct tpm__backend tpm__fake_backend;

/* Opens the ESYS backend on a resolved TCTI string. */
tpmiot_rc tpm__esys_open(tpmiot_tpm *t, const char *tcti);

/*
 * Picks the TCTI: arg, else env, else "device:<device>" when that file
 * exists, else "swtpm:path=<sim_sock>" when that socket exists.
 */
tpmiot_rc tpm__resolve_tcti(const char *arg, const char *env, const char *device,
                            const char *sim_sock, char *out, size_t len);

/* Opens a handle over any backend; impl is the backend's state. Runs recovery. */
tpmiot_rc tpm__open_backend(tpmiot_tpm **out, const struct tpm__backend *be, void *impl,
                            const char *name);

void tpm__set_fault_hook(tpmiot_tpm *t, bool (*hook)(void *), void *arg);

static inline tpmiot_rc tpm__mutation(tpmiot_tpm *t)
{
    if (t->fault_hook && t->fault_hook(t->fault_arg))
        return TPMIOT_E_TPM;
    return TPMIOT_OK;
}

/* Hostname, optional device id, module id only with a device id (slot.c). */
tpmiot_rc slot__identity_check(const tpmiot_identity *id);

/* Finishes or rolls back an interrupted change of one slot (slot.c). */
tpmiot_rc slot__recover(tpmiot_tpm *t, unsigned slot);

#endif
