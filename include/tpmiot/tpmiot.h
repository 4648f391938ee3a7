/* tpmiot — device identities in a TPM 2.0. Umbrella header. */
#ifndef TPMIOT_TPMIOT_H
#define TPMIOT_TPMIOT_H

#include <tpmiot/errors.h>
#include <tpmiot/codec.h>
#include <tpmiot/slot.h>
#include <tpmiot/sas.h>
#include <tpmiot/simulator.h>
#include <tpmiot/client.h>

#define TPMIOT_VERSION "0.1.0"

#endif
