/* Test helper: a SAS token from a key in memory, with any expiry (also past
 * ones, which `tpmiot token` refuses). Not installed; tests only.
 * usage: sas_sign KEY_B64 HOST DEVICE|- MODULE|- EXPIRY raw|enc POLICY|- */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tpmiot/tpmiot.h>

int main(int argc, char **argv)
{
    uint8_t key[80];
    size_t n = sizeof key;
    tpmiot_signer *s = NULL;
    char *tok = NULL;

    if (argc != 8) {
        fprintf(stderr, "usage: sas_sign KEY_B64 HOST DEVICE|- MODULE|- EXPIRY raw|enc POLICY|-\n");
        return 2;
    }
    tpmiot_identity id = {argv[2], strcmp(argv[3], "-") ? argv[3] : NULL,
                          strcmp(argv[4], "-") ? argv[4] : NULL};
    tpmiot_sas_options o = {.expiry = strtoull(argv[5], NULL, 10),
                            .encoded_resource = !strcmp(argv[6], "enc"),
                            .policy = strcmp(argv[7], "-") ? argv[7] : NULL};
    if (tpmiot_base64_decode(argv[1], strlen(argv[1]), key, &n) ||
        tpmiot_signer_from_key(&s, &id, key, n) || tpmiot_sas_build(s, &o, &tok)) {
        fprintf(stderr, "sas_sign: cannot sign\n");
        return 1;
    }
    puts(tok);
    tpmiot_free(tok);
    tpmiot_signer_free(&s);
    return 0;
}
