/* tpmiot — error codes shared by every part of the library. */
#ifndef TPMIOT_ERRORS_H
#define TPMIOT_ERRORS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TPMIOT_BUILDING_LIB)
#define TPMIOT_API __attribute__((visibility("default")))
#else
#define TPMIOT_API
#endif

/*
 * Every function that can fail returns a tpmiot_rc. The list is append-only:
 * a value once published keeps its number, so programs and logs that store
 * the number stay meaningful across versions.
 */
typedef enum {
    TPMIOT_OK = 0,                 /* 0: success */
    TPMIOT_E_INVALID_ARG = 1,      /* 1: NULL pointer or out-of-range argument */
    TPMIOT_E_NOMEM = 2,            /* 2: out of memory */
    TPMIOT_E_NO_TPM = 3,           /* 3: no TPM could be found or reached */
    TPMIOT_E_TPM = 4,              /* 4: the TPM or the TSS refused a command */
    TPMIOT_E_SLOT_RANGE = 5,       /* 5: slot number is not 0-9 */
    TPMIOT_E_SLOT_EMPTY = 6,       /* 6: the slot holds no identity */
    TPMIOT_E_BAD_KEY = 7,          /* 7: key is not base64 of 16-64 bytes */
    TPMIOT_E_BAD_HOSTNAME = 8,     /* 8: hostname empty, too long or bad characters */
    TPMIOT_E_BAD_DEVICE_ID = 9,    /* 9: device id violates Azure's rule */
    TPMIOT_E_BAD_MODULE_ID = 10,   /* 10: module id violates Azure's rule */
    TPMIOT_E_CONNSTR = 11,         /* 11: connection string malformed */
    TPMIOT_E_CONNSTR_DUP = 12,     /* 12: connection string repeats a field */
    TPMIOT_E_CONNSTR_MISSING = 13, /* 13: connection string lacks a required field */
    TPMIOT_E_BUFFER_SMALL = 14,    /* 14: caller's buffer is too small */
    TPMIOT_E_CRYPTO = 15,          /* 15: OpenSSL failed */
    TPMIOT_E_BAD_TOKEN = 16,       /* 16: SAS token malformed */
    TPMIOT_E_TOKEN_EXPIRED = 17,   /* 17: SAS token expired */
    TPMIOT_E_SIGNATURE = 18,       /* 18: SAS signature does not verify */
    TPMIOT_E_IO = 19,              /* 19: file or process operation failed */
    TPMIOT_E_SLOT_CORRUPT = 20,    /* 20: slot data in the TPM is not a valid identity */
    TPMIOT_E_TCTI = 21,            /* 21: the TCTI could not be loaded or connected */
    TPMIOT_E_BAD_EXPIRY = 22,      /* 22: expiry in the past or beyond the format */
    TPMIOT_E_BAD_POLICY = 23,      /* 23: policy name empty, too long or bad characters */
    TPMIOT_E_CONNSTR_UNKNOWN = 24, /* 24: connection string has a field we do not know */
    TPMIOT_E_SIMULATOR = 25,       /* 25: the software TPM could not be started or stopped */
    TPMIOT_E_NO_KEY = 26,          /* 26: the slot has a URI but no key */
    TPMIOT_E_QUEUE_FULL = 27,      /* 27: the client's message queue is full */
    TPMIOT_E_TIMEOUT = 28,         /* 28: the hub did not acknowledge in time */
    TPMIOT_E_MQTT = 29,            /* 29: the MQTT library failed */
} tpmiot_rc;

/*
 * A short English description of rc, never NULL; static storage.
 */
TPMIOT_API const char *tpmiot_strerror(tpmiot_rc rc);

/*
 * Releases a NUL-terminated string the library allocated and handed to the
 * caller (tokens, connection strings). NULL is accepted. The string is wiped
 * before it is freed, since tokens are bearer credentials.
 */
TPMIOT_API void tpmiot_free(char *s);

#ifdef __cplusplus
}
#endif
#endif
