/* libFuzzer: what the TPM hands back. Arbitrary bytes as a slot's URI and
 * as its journal, then open (recovery) and read. Property: never crashes;
 * afterwards no journal is left and the slot reads as valid or corrupt. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tpmiot/tpmiot.h>

#include "tpm/fake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tpm__fake *f = calloc(1, sizeof *f);
    tpmiot_tpm *t = NULL;
    tpmiot_slot_info info, all[TPMIOT_SLOT_COUNT];
    size_t half = size / 2;

    if (!f || size < 2 || size > 2 * TPM_NV_MAX)
        goto out;
    f->srk = true;
    /* The first half becomes slot 3's URI, the second its journal. */
    f->nv[0].index = TPMIOT_URI_NV_BASE + 3;
    f->nv[0].len = half;
    f->nv[0].written = data[0] & 1;
    memcpy(f->nv[0].data, data, half);
    f->nv[1].index = TPM_JOURNAL_NV_BASE + 3;
    f->nv[1].len = size - half;
    f->nv[1].written = true;
    memcpy(f->nv[1].data, data + half, size - half);
    if (tpm__fake_open(&t, f) == TPMIOT_OK) {
        uint32_t h[1];
        size_t n = 0;
        if (tpm__fake_backend.handles(t, TPM_JOURNAL_NV_BASE + 3, 1, h, &n) || n)
            abort();
        tpmiot_rc rc = tpmiot_slot_info_get(t, 3, &info);
        if (rc && rc != TPMIOT_E_SLOT_CORRUPT)
            abort();
        if (tpmiot_slot_list(t, all))
            abort();
    }
    tpmiot_tpm_close(&t);
out:
    free(f);
    return 0;
}
