/* Certificates for tpmiot-hub and the device portal (not part of libtpmiot). */
#ifndef TPMIOT_X509_H
#define TPMIOT_X509_H

#include <stdbool.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* A new EC P-256 key. */
EVP_PKEY *x509__key(void);

/*
 * A version 3 certificate for key: random serial, valid from an hour ago for
 * `days`, subject O=org CN=cn, signed by issuer_key (self-signed when NULL).
 * Add extensions with x509__add_ext, then sign again with X509_sign.
 */
X509 *x509__new(EVP_PKEY *key, const char *org, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                long days);

/* Adds extension nid ("critical,CA:TRUE", "DNS:localhost,...") to cert. 0 on success. */
int x509__add_ext(X509 *cert, X509 *issuer, int nid, const char *value);

/* Writes key (mode 0600) or cert (0644) as PEM; exclusive refuses an existing file. */
int x509__write_pem(const char *path, EVP_PKEY *key, X509 *cert, bool exclusive);

#endif
