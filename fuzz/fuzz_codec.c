/* libFuzzer: base64 and URL decoding. Property: strict base64 round-trips
 * exactly (one text per byte string); URL decode of encode is identity. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tpmiot/tpmiot.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *dec = malloc(size + 1);
    char *enc = malloc(size * 3 + 8), *back = malloc(size * 3 + 8);
    size_t n = size + 1, m = size * 3 + 8, k = size * 3 + 8;

    if (!dec || !enc || !back)
        goto out;
    if (tpmiot_base64_decode((const char *)data, size, dec, &n) == TPMIOT_OK) {
        if (tpmiot_base64_encode(dec, n, enc, &m) || m != size || memcmp(enc, data, size))
            abort();
    }
    m = size * 3 + 8;
    if (!memchr(data, '\0', size) &&
        tpmiot_url_encode((const char *)data, size, enc, &m) == TPMIOT_OK) {
        if (tpmiot_url_decode(enc, m, back, &k) || k != size || memcmp(back, data, size))
            abort();
    }
    k = size * 3 + 8;
    tpmiot_url_decode((const char *)data, size, back, &k);
    /* A property bag decoded and encoded again decodes to the same pairs. */
    if (!memchr(data, '\0', size)) {
        tpmiot_prop p[16], q[16];
        size_t np = 16, nq = 16, blen = size * 3 + 8;
        memcpy(back, data, size);
        back[size] = '\0';
        if (tpmiot_propbag_decode(back, p, &np) == TPMIOT_OK &&
            tpmiot_propbag_encode(p, np, enc, &blen) == TPMIOT_OK) {
            char *again = strdup(enc);
            if (!again || tpmiot_propbag_decode(again, q, &nq) || nq != np)
                abort();
            for (size_t i = 0; i < np; i++)
                if (strcmp(p[i].key, q[i].key) || strcmp(p[i].value, q[i].value))
                    abort();
            free(again);
        }
    }
out:
    free(dec);
    free(enc);
    free(back);
    return 0;
}
