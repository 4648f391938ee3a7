/* The hub's device registry: SQLite in WAL mode, written by the REST API and
 * read (plus connection state) by the broker plugin. Not thread-safe: one
 * handle per thread. */
#ifndef TPMIOT_HUB_REGISTRY_H
#define TPMIOT_HUB_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    REG_OK = 0,
    REG_NOT_FOUND = 1,    /* no such device, module or policy */
    REG_PRECONDITION = 2, /* If-Match did not match */
    REG_EXISTS = 3,       /* create-only and it exists */
    REG_DB = 4,           /* SQLite failed */
    REG_INVALID = 5,      /* bad id or field */
} reg_rc;

typedef struct hub_registry hub_registry;

#define REG_KEY_MAX 96 /* base64 text of up to 64 bytes */

typedef struct {
    char device_id[129];
    char module_id[129]; /* "" for a device */
    char generation_id[40];
    uint64_t version; /* bumps on every change; the etag is derived from it */
    bool enabled;
    char status_reason[129];
    char primary_key[REG_KEY_MAX];
    char secondary_key[REG_KEY_MAX];
    bool connected;
    int64_t connection_state_updated; /* Unix seconds, 0 = never */
    int64_t last_activity;
    int64_t c2d_count;
} reg_device;

typedef struct {
    char name[65];
    unsigned rights; /* REG_RIGHT_* */
    char primary_key[REG_KEY_MAX];
    char secondary_key[REG_KEY_MAX];
} reg_policy;

enum {
    REG_RIGHT_REGISTRY_READ = 1,
    REG_RIGHT_REGISTRY_WRITE = 2,
    REG_RIGHT_SERVICE_CONNECT = 4,
    REG_RIGHT_DEVICE_CONNECT = 8,
};

/* Opens (create: creates, mode 0600, with the schema) the registry at path. */
reg_rc registry_open(hub_registry **out, const char *path, bool create);
void registry_close(hub_registry **r);
const char *registry_errmsg(hub_registry *r);

/* Hub settings kept in the registry: "hostname". */
reg_rc registry_meta_get(hub_registry *r, const char *key, char *out, size_t len);
reg_rc registry_meta_set(hub_registry *r, const char *key, const char *value);

/* One device or module (module_id NULL or "" for a device). Uses the primary key index. */
reg_rc registry_device_get(hub_registry *r, const char *device_id, const char *module_id,
                           reg_device *out);

/*
 * Creates or replaces a device/module. if_match: NULL or "*" = any, else the
 * etag the caller saw (REG_PRECONDITION otherwise). Keys left empty are
 * generated (32 random bytes). A change to status or keys is logged for the
 * broker, which disconnects live sessions. *out receives the stored record.
 */
reg_rc registry_device_put(hub_registry *r, const reg_device *in, const char *if_match,
                           reg_device *out, bool *created);

/* Deletes a device (and its modules) or a module; logged for the broker. */
reg_rc registry_device_delete(hub_registry *r, const char *device_id, const char *module_id,
                              const char *if_match);

/* Calls fn for every device (not modules), in id order; max 0 = all. */
reg_rc registry_device_list(hub_registry *r, unsigned max, void (*fn)(const reg_device *, void *),
                            void *arg);

/* The etag of a record: base64 of its version, as Azure's look. */
void registry_etag(const reg_device *d, char *out, size_t len);

reg_rc registry_policy_get(hub_registry *r, const char *name, reg_policy *out);
reg_rc registry_policy_put(hub_registry *r, const reg_policy *p);

/* Connection state and activity, written by the broker plugin. */
reg_rc registry_set_connected(hub_registry *r, const char *device_id, const char *module_id,
                              bool connected, int64_t now);
/* Marks every device disconnected: the broker starts with no live sessions. */
reg_rc registry_reset_connections(hub_registry *r, int64_t now);
reg_rc registry_touch(hub_registry *r, const char *device_id, const char *module_id, int64_t now);
reg_rc registry_c2d_count_add(hub_registry *r, const char *device_id, int delta);

/*
 * Auth-relevant changes (disable, delete, key change) after seq, oldest
 * first: fn(device_id, module_id) for each; *seq is advanced. Starting from
 * seq 0 first returns the current end without calling fn (nothing to kick
 * for changes made before the broker came up).
 */
reg_rc registry_changes_since(hub_registry *r, int64_t *seq,
                              void (*fn)(const char *dev, const char *mod, void *), void *arg);

/* Whether anything else wrote to the database since the last call (cheap). */
bool registry_changed(hub_registry *r);

/* A fresh random key: base64 of 32 bytes. */
reg_rc registry_new_key(char *out, size_t len);

#endif
