/* An in-memory TPM for unit tests: the same backend table as ESYS. */
#ifndef TPMIOT_FAKE_H
#define TPMIOT_FAKE_H

#include "../tpm_int.h"

#define FAKE_OBJECTS 64

struct tpm__fake_nv {
    uint32_t index;
    bool written;
    size_t len;
    uint8_t data[TPM_NV_MAX];
};

struct tpm__fake_key {
    uint32_t handle;
    size_t blob_len;
    uint8_t blob[TPM_BLOB_MAX];
};

/* The TPM's state: survives tpmiot_tpm_close, like NV memory does. */
struct tpm__fake {
    bool srk;
    bool dead;         /* set by a test's fault hook: every command fails */
    unsigned counter;  /* makes each created key distinct, like a TPM's seed */
    unsigned commands; /* TPM commands issued */
    struct tpm__fake_nv nv[FAKE_OBJECTS];
    struct tpm__fake_key keys[FAKE_OBJECTS];
};

/* Opens a handle over f (which the caller owns and zero-initialises). */
tpmiot_rc tpm__fake_open(tpmiot_tpm **out, struct tpm__fake *f);

#endif
