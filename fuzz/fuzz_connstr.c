/* libFuzzer: connection string parsing. Property: never crashes; accepted
 * fields obey the id rules; a refused string leaves nothing behind. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tpmiot/tpmiot.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tpmiot_connstr c;
    char *s = malloc(size + 1);
    tpmiot_rc rc;

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    rc = tpmiot_connstr_parse(s, &c);
    if (rc == TPMIOT_OK) {
        if (c.host_name[0] && tpmiot_hostname_check(c.host_name))
            abort();
        if (c.device_id[0] && tpmiot_device_id_check(c.device_id))
            abort();
    } else {
        static const tpmiot_connstr zero;
        if (memcmp(&c, &zero, sizeof c))
            abort();
    }
    tpmiot_connstr_wipe(&c);
    free(s);
    return 0;
}
