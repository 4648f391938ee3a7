/* Text for tpmiot_rc values. */
#include <stdlib.h>
#include <string.h>

#include <tpmiot/codec.h>
#include <tpmiot/errors.h>

const char *tpmiot_strerror(tpmiot_rc rc)
{
    /* No default: with -Wswitch a new enum value without a text fails the
     * build, so the list and its messages cannot drift apart. */
    switch (rc) {
    case TPMIOT_OK: return "success";
    case TPMIOT_E_INVALID_ARG: return "invalid argument";
    case TPMIOT_E_NOMEM: return "out of memory";
    case TPMIOT_E_NO_TPM:
        return "no TPM found (no $TPMIOT_TCTI, /dev/tpmrm0 absent, no software TPM running); "
               "start the software TPM with `tpmiot simulator start`";
    case TPMIOT_E_TPM: return "the TPM refused the command";
    case TPMIOT_E_SLOT_RANGE: return "slot number out of range (0-9)";
    case TPMIOT_E_SLOT_EMPTY: return "the slot is empty; provision it with `tpmiot slot provision`";
    case TPMIOT_E_BAD_KEY: return "the key is not base64 of 16 to 64 bytes";
    case TPMIOT_E_BAD_HOSTNAME: return "invalid hostname (1-255 of A-Z a-z 0-9 . -)";
    case TPMIOT_E_BAD_DEVICE_ID:
        return "invalid device id (1-128 of A-Z a-z 0-9 - . % _ * ? ! ( ) , : = @ $ ')";
    case TPMIOT_E_BAD_MODULE_ID:
        return "invalid module id (same rule as device ids, needs a device id)";
    case TPMIOT_E_CONNSTR: return "malformed connection string (expected Key=value;Key=value)";
    case TPMIOT_E_CONNSTR_DUP: return "connection string repeats a field";
    case TPMIOT_E_CONNSTR_MISSING:
        return "connection string lacks HostName, DeviceId or SharedAccessKey";
    case TPMIOT_E_BUFFER_SMALL: return "buffer too small";
    case TPMIOT_E_CRYPTO: return "cryptographic operation failed";
    case TPMIOT_E_BAD_TOKEN: return "malformed SAS token";
    case TPMIOT_E_TOKEN_EXPIRED: return "SAS token expired";
    case TPMIOT_E_SIGNATURE: return "SAS token signature does not match";
    case TPMIOT_E_IO: return "input/output error";
    case TPMIOT_E_SLOT_CORRUPT:
        return "the slot's data in the TPM is not a valid identity; destroy and re-provision it";
    case TPMIOT_E_TCTI: return "could not connect to the TPM through the TCTI";
    case TPMIOT_E_BAD_EXPIRY: return "expiry out of range";
    case TPMIOT_E_BAD_POLICY: return "invalid policy name (1-64 of A-Z a-z 0-9 - _ .)";
    case TPMIOT_E_CONNSTR_UNKNOWN: return "connection string has an unknown field";
    case TPMIOT_E_SIMULATOR: return "the software TPM could not be started or stopped";
    case TPMIOT_E_NO_KEY: return "the slot has an identity but no key; destroy and re-provision it";
    case TPMIOT_E_QUEUE_FULL:
        return "the message queue is full; wait for the hub to acknowledge messages";
    case TPMIOT_E_TIMEOUT: return "the hub did not acknowledge in time";
    case TPMIOT_E_MQTT: return "the MQTT library failed";
    }
    return "unknown error";
}

void tpmiot_free(char *s)
{
    if (!s)
        return;
    tpmiot_wipe(s, strlen(s));
    free(s);
}
