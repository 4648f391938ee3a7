/* tpmiot — the software TPM (Debian's swtpm) for boards without a chip. */
#ifndef TPMIOT_SIMULATOR_H
#define TPMIOT_SIMULATOR_H

#include <stdbool.h>
#include <tpmiot/errors.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * tpmiot's state directory: $XDG_STATE_HOME/tpmiot when XDG_STATE_HOME is
 * set, else /var/lib/tpmiot for root, else ~/.local/state/tpmiot.
 */
TPMIOT_API tpmiot_rc tpmiot_state_dir(char *buf, size_t len);

/*
 * The default simulator directory: $XDG_STATE_HOME/tpmiot/swtpm when
 * XDG_STATE_HOME is set, else /var/lib/tpmiot/swtpm for root, else
 * ~/.local/state/tpmiot/swtpm. The socket is <dir>/sock (mode 0600), its
 * control socket <dir>/sock.ctrl. Writes at most len bytes to buf.
 */
TPMIOT_API tpmiot_rc tpmiot_sim_default_dir(char *buf, size_t len);

/*
 * Starts swtpm on <state_dir>/sock (NULL: the default dir), keeping its state
 * in state_dir across restarts. Idempotent: when one is already running there
 * it is left alone. Writes the TCTI string ("swtpm:path=<dir>/sock") to tcti.
 * Returns TPMIOT_E_SIMULATOR with a reason in why (may be NULL).
 */
TPMIOT_API tpmiot_rc tpmiot_sim_start(const char *state_dir, char *tcti, size_t tcti_len, char *why,
                                      size_t why_len);

/* Stops the swtpm of state_dir (NULL: default); OK when none runs. */
TPMIOT_API tpmiot_rc tpmiot_sim_stop(const char *state_dir);

/* Whether the swtpm of state_dir runs; its pid in *pid when it does. */
TPMIOT_API tpmiot_rc tpmiot_sim_status(const char *state_dir, bool *running, long *pid);

#ifdef __cplusplus
}
#endif
#endif
