/* Reads ../shared/vectors/sas.tsv (or the copy in tests/vectors). */
#ifndef TPMIOT_TEST_VECTORS_H
#define TPMIOT_TEST_VECTORS_H

#include <stddef.h>

struct sas_vector {
    char source[256];
    char key_b64[128];
    char sts[512]; /* unescaped string-to-sign */
    size_t sts_len;
    char sig_b64[128];
    char token[1024]; /* "" when the file has '-' */
};

/* Loads up to max vectors from path; returns how many, -1 on error. */
int sas_vectors_load(const char *path, struct sas_vector *v, int max);

#endif
