/* A local CA and a server certificate for the hub, made with OpenSSL. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../../common/x509.h"
#include "hub.h"

int hub_make_certs(const char *dir, const char *hostname)
{
    EVP_PKEY *ca_key = x509__key(), *key = x509__key();
    X509 *ca = NULL, *srv = NULL;
    char path[600], san[600], cn[300];
    int rc = -1;

    if (!ca_key || !key)
        goto out;
    snprintf(cn, sizeof cn, "tpmiot-hub CA for %s", hostname);
    /* The CA is signed before its extensions exist: set them, then sign again. */
    if (!(ca = x509__new(ca_key, "tpmiot-hub", cn, NULL, NULL, 3650)))
        goto out;
    if (x509__add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        x509__add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        x509__add_ext(ca, ca, NID_subject_key_identifier, "hash") ||
        !X509_sign(ca, ca_key, EVP_sha256()))
        goto out;
    if (!(srv = x509__new(key, "tpmiot-hub", hostname, ca, ca_key, 825)))
        goto out;
    snprintf(san, sizeof san, "DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1", hostname);
    if (x509__add_ext(srv, ca, NID_subject_alt_name, san) ||
        x509__add_ext(srv, ca, NID_basic_constraints, "critical,CA:FALSE") ||
        x509__add_ext(srv, ca, NID_key_usage, "critical,digitalSignature,keyAgreement") ||
        x509__add_ext(srv, ca, NID_ext_key_usage, "serverAuth") ||
        x509__add_ext(srv, ca, NID_authority_key_identifier, "keyid") ||
        !X509_sign(srv, ca_key, EVP_sha256()))
        goto out;
    snprintf(path, sizeof path, "%s/ca.crt", dir);
    if (x509__write_pem(path, NULL, ca, true))
        goto out;
    snprintf(path, sizeof path, "%s/ca.key", dir);
    if (x509__write_pem(path, ca_key, NULL, true))
        goto out;
    snprintf(path, sizeof path, "%s/server.crt", dir);
    if (x509__write_pem(path, NULL, srv, true))
        goto out;
    snprintf(path, sizeof path, "%s/server.key", dir);
    if (x509__write_pem(path, key, NULL, true))
        goto out;
    rc = 0;
out:
    X509_free(ca);
    X509_free(srv);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    return rc;
}
