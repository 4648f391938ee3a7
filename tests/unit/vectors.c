#include <stdio.h>
#include <string.h>

#include "vectors.h"

static size_t unescape(const char *in, char *out, size_t cap)
{
    size_t o = 0;

    for (; *in && o + 1 < cap; in++) {
        if (*in == '\\' && in[1]) {
            in++;
            out[o++] = *in == 'n' ? '\n' : *in == 'r' ? '\r' : *in == 't' ? '\t' : *in;
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
    return o;
}

int sas_vectors_load(const char *path, struct sas_vector *v, int max)
{
    char line[4096];
    FILE *f = fopen(path, "r");
    int n = 0;

    if (!f)
        return -1;
    while (n < max && fgets(line, sizeof line, f)) {
        char *cols[5], *p = line;
        int k;

        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        for (k = 0; k < 5 && p; k++) {
            cols[k] = p;
            p = strchr(p, '\t');
            if (p)
                *p++ = '\0';
        }
        if (k != 5) {
            fclose(f);
            return -1;
        }
        snprintf(v[n].source, sizeof v[n].source, "%s", cols[0]);
        snprintf(v[n].key_b64, sizeof v[n].key_b64, "%s", cols[1]);
        v[n].sts_len = unescape(cols[2], v[n].sts, sizeof v[n].sts);
        snprintf(v[n].sig_b64, sizeof v[n].sig_b64, "%s", cols[3]);
        snprintf(v[n].token, sizeof v[n].token, "%s", strcmp(cols[4], "-") ? cols[4] : "");
        n++;
    }
    fclose(f);
    return n;
}
