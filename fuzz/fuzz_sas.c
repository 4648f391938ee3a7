/* libFuzzer: SAS token parsing and verification, the hub's first contact
 * with untrusted input. Property: never crashes; a parsed token's fields fit
 * their buffers; verification of garbage fails. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tpmiot/tpmiot.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tpmiot_signer *s;
    tpmiot_sas_parts p;
    char *tok = malloc(size + 1);

    if (!tok)
        return 0;
    memcpy(tok, data, size);
    tok[size] = '\0';
    if (!s) {
        static const uint8_t key[32] = {1, 2, 3};
        tpmiot_identity id = {"fuzz.example", "dev", NULL};
        if (tpmiot_signer_from_key(&s, &id, key, sizeof key))
            abort();
    }
    if (tpmiot_sas_parse(tok, &p) == TPMIOT_OK) {
        if (strlen(p.sr) >= sizeof p.sr || strlen(p.sig) >= sizeof p.sig || !p.sr[0])
            abort();
        /* A random signature must not verify (2^-256). */
        if (tpmiot_sas_verify(s, tok, 0) == TPMIOT_OK && !strstr(tok, "sig="))
            abort();
    }
    free(tok);
    return 0;
}
