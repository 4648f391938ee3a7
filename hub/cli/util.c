/* Small helpers for tpmiot-hub. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <tpmiot/tpmiot.h>

#include "hub.h"

char *hub_read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    char *buf;
    size_t n;

    if (!f)
        return NULL;
    if (!(buf = calloc(1, max + 2))) {
        if (f != stdin)
            fclose(f);
        return NULL;
    }
    n = fread(buf, 1, max + 1, f);
    if (f != stdin)
        fclose(f);
    if (n > max) {
        tpmiot_wipe(buf, max + 2);
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

char *hub_policy_token(const char *hostname, const char *policy, const char *key_b64, uint64_t ttl)
{
    uint8_t key[80];
    size_t n = sizeof key;
    tpmiot_signer *s = NULL;
    tpmiot_identity id = {hostname, NULL, NULL};
    tpmiot_sas_options o = {.ttl = ttl, .policy = policy};
    char *tok = NULL;

    if (tpmiot_base64_decode(key_b64, strlen(key_b64), key, &n))
        return NULL;
    if (!tpmiot_signer_from_key(&s, &id, key, n))
        tpmiot_sas_build(s, &o, &tok);
    tpmiot_wipe(key, sizeof key);
    tpmiot_signer_free(&s);
    return tok;
}

bool hub_port_taken(const char *addr, unsigned port)
{
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    bool v6 = strchr(addr, ':') != NULL;
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    bool taken;

    if (fd < 0)
        return false;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (v6)
        inet_pton(AF_INET6, addr, &a6.sin6_addr);
    else
        inet_pton(AF_INET, addr, &a4.sin_addr);
    taken = v6 ? bind(fd, (struct sockaddr *)&a6, sizeof a6) != 0
               : bind(fd, (struct sockaddr *)&a4, sizeof a4) != 0;
    close(fd);
    return taken;
}
