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

#include "hub.h"

static EVP_PKEY *new_key(void)
{
    return EVP_EC_gen("P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    if (!(ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)))
        return -1;
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return 0;
}

static X509 *new_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long days)
{
    X509 *c = X509_new();
    X509_NAME *name;
    uint8_t serial[16];
    BIGNUM *bn;

    if (!c)
        return NULL;
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
    BN_free(bn);
    X509_set_version(c, 2);
    X509_gmtime_adj(X509_getm_notBefore(c), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c), days * 86400);
    X509_set_pubkey(c, key);
    name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"tpmiot-hub", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
    if (!X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256())) {
        X509_free(c);
        return NULL;
    }
    return c;
}

static int write_pem(const char *path, EVP_PKEY *key, X509 *cert)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, key ? 0600 : 0644);
    FILE *f;
    int ok;

    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
    return fclose(f) == 0 && ok ? 0 : -1;
}

int hub_make_certs(const char *dir, const char *hostname)
{
    EVP_PKEY *ca_key = new_key(), *key = new_key();
    X509 *ca = NULL, *srv = NULL;
    char path[600], san[600], cn[300];
    int rc = -1;

    if (!ca_key || !key)
        goto out;
    snprintf(cn, sizeof cn, "tpmiot-hub CA for %s", hostname);
    /* The CA is signed before its extensions exist: set them, then sign again. */
    if (!(ca = new_cert(ca_key, cn, NULL, NULL, 3650)))
        goto out;
    if (add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        add_ext(ca, ca, NID_subject_key_identifier, "hash") || !X509_sign(ca, ca_key, EVP_sha256()))
        goto out;
    if (!(srv = new_cert(key, hostname, ca, ca_key, 825)))
        goto out;
    snprintf(san, sizeof san, "DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1", hostname);
    if (add_ext(srv, ca, NID_subject_alt_name, san) ||
        add_ext(srv, ca, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(srv, ca, NID_key_usage, "critical,digitalSignature,keyAgreement") ||
        add_ext(srv, ca, NID_ext_key_usage, "serverAuth") ||
        add_ext(srv, ca, NID_authority_key_identifier, "keyid") ||
        !X509_sign(srv, ca_key, EVP_sha256()))
        goto out;
    snprintf(path, sizeof path, "%s/ca.crt", dir);
    if (write_pem(path, NULL, ca))
        goto out;
    snprintf(path, sizeof path, "%s/ca.key", dir);
    if (write_pem(path, ca_key, NULL))
        goto out;
    snprintf(path, sizeof path, "%s/server.crt", dir);
    if (write_pem(path, NULL, srv))
        goto out;
    snprintf(path, sizeof path, "%s/server.key", dir);
    if (write_pem(path, key, NULL))
        goto out;
    rc = 0;
out:
    X509_free(ca);
    X509_free(srv);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    return rc;
}
