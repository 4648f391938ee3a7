/* The device registry on SQLite. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <sqlite3.h>
#include <tpmiot/codec.h>

#include "registry.h"

struct hub_registry {
    sqlite3 *db;
    sqlite3_stmt *get; /* the CONNECT path: prepared once */
    int data_version;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS devices("
    " device_id TEXT NOT NULL, module_id TEXT NOT NULL DEFAULT '',"
    " generation_id TEXT NOT NULL, version INTEGER NOT NULL, enabled INTEGER NOT NULL,"
    " status_reason TEXT NOT NULL DEFAULT '', primary_key TEXT NOT NULL,"
    " secondary_key TEXT NOT NULL, connected INTEGER NOT NULL DEFAULT 0,"
    " connection_state_updated INTEGER NOT NULL DEFAULT 0,"
    " last_activity INTEGER NOT NULL DEFAULT 0, c2d_count INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(device_id, module_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS policies(name TEXT PRIMARY KEY, rights INTEGER NOT NULL,"
    " primary_key TEXT NOT NULL, secondary_key TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS changes(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " device_id TEXT NOT NULL, module_id TEXT NOT NULL);";

#define COLS                                                                                       \
    "device_id, module_id, generation_id, version, enabled, status_reason, primary_key,"           \
    " secondary_key, connected, connection_state_updated, last_activity, c2d_count"

const char *registry_errmsg(hub_registry *r)
{
    return r && r->db ? sqlite3_errmsg(r->db) : "no database";
}

reg_rc registry_open(hub_registry **out, const char *path, bool create)
{
    hub_registry *r = calloc(1, sizeof *r);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);

    *out = NULL;
    if (!r)
        return REG_DB;
    if (create) {
        /* Keys live in this file: no window in which it is world-readable. */
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            free(r);
            return REG_DB;
        }
        close(fd);
    }
    if (sqlite3_open_v2(path, &r->db, flags, NULL) != SQLITE_OK)
        goto fail;
    /* The broker and the REST API write at the same time; wait, don't fail. */
    sqlite3_busy_timeout(r->db, 5000);
    if (sqlite3_exec(r->db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", NULL, NULL,
                     NULL) != SQLITE_OK)
        goto fail;
    if (create && sqlite3_exec(r->db, schema, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (sqlite3_prepare_v2(r->db, "SELECT " COLS " FROM devices WHERE device_id=? AND module_id=?",
                           -1, &r->get, NULL) != SQLITE_OK)
        goto fail;
    registry_changed(r);
    *out = r;
    return REG_OK;
fail:
    registry_close(&r);
    return REG_DB;
}

void registry_close(hub_registry **r)
{
    if (!r || !*r)
        return;
    sqlite3_finalize((*r)->get);
    sqlite3_close((*r)->db);
    free(*r);
    *r = NULL;
}

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

static void row_to_device(sqlite3_stmt *st, reg_device *d)
{
    memset(d, 0, sizeof *d);
    copy_text(d->device_id, sizeof d->device_id, sqlite3_column_text(st, 0));
    copy_text(d->module_id, sizeof d->module_id, sqlite3_column_text(st, 1));
    copy_text(d->generation_id, sizeof d->generation_id, sqlite3_column_text(st, 2));
    d->version = (uint64_t)sqlite3_column_int64(st, 3);
    d->enabled = sqlite3_column_int(st, 4) != 0;
    copy_text(d->status_reason, sizeof d->status_reason, sqlite3_column_text(st, 5));
    copy_text(d->primary_key, sizeof d->primary_key, sqlite3_column_text(st, 6));
    copy_text(d->secondary_key, sizeof d->secondary_key, sqlite3_column_text(st, 7));
    d->connected = sqlite3_column_int(st, 8) != 0;
    d->connection_state_updated = sqlite3_column_int64(st, 9);
    d->last_activity = sqlite3_column_int64(st, 10);
    d->c2d_count = sqlite3_column_int64(st, 11);
}

reg_rc registry_meta_get(hub_registry *r, const char *key, char *out, size_t len)
{
    sqlite3_stmt *st;
    reg_rc rc = REG_NOT_FOUND;

    if (sqlite3_prepare_v2(r->db, "SELECT v FROM meta WHERE k=?", -1, &st, NULL))
        return REG_DB;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        copy_text(out, len, sqlite3_column_text(st, 0));
        rc = REG_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

reg_rc registry_meta_set(hub_registry *r, const char *key, const char *value)
{
    sqlite3_stmt *st;
    int s;

    if (sqlite3_prepare_v2(r->db, "INSERT OR REPLACE INTO meta(k, v) VALUES(?, ?)", -1, &st, NULL))
        return REG_DB;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    s = sqlite3_step(st);
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? REG_OK : REG_DB;
}

reg_rc registry_device_get(hub_registry *r, const char *device_id, const char *module_id,
                           reg_device *out)
{
    reg_rc rc = REG_NOT_FOUND;

    sqlite3_reset(r->get);
    sqlite3_bind_text(r->get, 1, device_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(r->get, 2, module_id ? module_id : "", -1, SQLITE_STATIC);
    switch (sqlite3_step(r->get)) {
    case SQLITE_ROW:
        row_to_device(r->get, out);
        rc = REG_OK;
        break;
    case SQLITE_DONE: break;
    default: rc = REG_DB;
    }
    sqlite3_reset(r->get);
    sqlite3_clear_bindings(r->get);
    return rc;
}

void registry_etag(const reg_device *d, char *out, size_t len)
{
    char num[24];
    size_t n = len;

    snprintf(num, sizeof num, "%" PRIu64, d->version);
    if (tpmiot_base64_encode(num, strlen(num), out, &n))
        snprintf(out, len, "%s", num);
}

/* If-Match: absent or "*" matches anything; else the etag, quoted or not. */
static bool etag_matches(const reg_device *d, const char *if_match)
{
    char want[48], given[64];
    size_t n;

    if (!if_match || !*if_match || !strcmp(if_match, "*"))
        return true;
    registry_etag(d, want, sizeof want);
    n = strlen(if_match);
    if (n >= 2 && if_match[0] == '"' && if_match[n - 1] == '"')
        snprintf(given, sizeof given, "%.*s", (int)(n - 2), if_match + 1);
    else
        snprintf(given, sizeof given, "%s", if_match);
    return !strcmp(want, given);
}

reg_rc registry_new_key(char *out, size_t len)
{
    uint8_t k[32];
    size_t n = len;
    reg_rc rc = REG_OK;

    if (RAND_bytes(k, sizeof k) != 1 || tpmiot_base64_encode(k, sizeof k, out, &n))
        rc = REG_DB;
    tpmiot_wipe(k, sizeof k);
    return rc;
}

/* Azure's generationId is an opaque 18-digit number that changes when a
 * device of the same id is created anew. */
static void new_generation(char *out, size_t len)
{
    uint8_t b[8];
    uint64_t v = 0;

    RAND_bytes(b, sizeof b);
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    snprintf(out, len, "638%015" PRIu64, (uint64_t)(v % 1000000000000000ULL));
}

static reg_rc log_change(hub_registry *r, const char *dev, const char *mod)
{
    sqlite3_stmt *st;
    int s;

    if (sqlite3_prepare_v2(r->db, "INSERT INTO changes(device_id, module_id) VALUES(?, ?)", -1, &st,
                           NULL))
        return REG_DB;
    sqlite3_bind_text(st, 1, dev, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, mod ? mod : "", -1, SQLITE_STATIC);
    s = sqlite3_step(st);
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? REG_OK : REG_DB;
}

static bool key_ok(const char *k)
{
    uint8_t b[80];
    size_t n = sizeof b;
    bool ok = !tpmiot_base64_decode(k, strlen(k), b, &n) && n >= 16 && n <= 64;
    tpmiot_wipe(b, sizeof b);
    return ok;
}

reg_rc registry_device_put(hub_registry *r, const reg_device *in, const char *if_match,
                           reg_device *out, bool *created)
{
    reg_device cur, d = *in;
    sqlite3_stmt *st = NULL;
    bool exists;
    reg_rc rc;

    if (tpmiot_device_id_check(d.device_id) ||
        (d.module_id[0] && tpmiot_device_id_check(d.module_id)))
        return REG_INVALID;
    if ((d.primary_key[0] && !key_ok(d.primary_key)) ||
        (d.secondary_key[0] && !key_ok(d.secondary_key)))
        return REG_INVALID;
    if (sqlite3_exec(r->db, "BEGIN IMMEDIATE", NULL, NULL, NULL))
        return REG_DB;
    rc = registry_device_get(r, d.device_id, d.module_id, &cur);
    if (rc && rc != REG_NOT_FOUND)
        goto out;
    exists = rc == REG_OK;
    if (exists && !etag_matches(&cur, if_match)) {
        rc = REG_PRECONDITION;
        goto out;
    }
    if (!exists && if_match && *if_match && strcmp(if_match, "*")) {
        rc = REG_NOT_FOUND;
        goto out;
    }
    if (!d.primary_key[0] && (rc = registry_new_key(d.primary_key, sizeof d.primary_key)))
        goto out;
    if (!d.secondary_key[0] && (rc = registry_new_key(d.secondary_key, sizeof d.secondary_key)))
        goto out;
    if (exists) {
        memcpy(d.generation_id, cur.generation_id, sizeof d.generation_id);
        d.version = cur.version + 1;
        d.connected = cur.connected;
        d.connection_state_updated = cur.connection_state_updated;
        d.last_activity = cur.last_activity;
        d.c2d_count = cur.c2d_count;
    } else {
        new_generation(d.generation_id, sizeof d.generation_id);
        d.version = 1;
        d.connected = false;
        d.connection_state_updated = d.last_activity = d.c2d_count = 0;
    }
    rc = REG_DB;
    if (sqlite3_prepare_v2(
            r->db, "INSERT OR REPLACE INTO devices(" COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", -1,
            &st, NULL))
        goto out;
    sqlite3_bind_text(st, 1, d.device_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, d.module_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, d.generation_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)d.version);
    sqlite3_bind_int(st, 5, d.enabled);
    sqlite3_bind_text(st, 6, d.status_reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, d.primary_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, d.secondary_key, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 9, d.connected);
    sqlite3_bind_int64(st, 10, d.connection_state_updated);
    sqlite3_bind_int64(st, 11, d.last_activity);
    sqlite3_bind_int64(st, 12, d.c2d_count);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto out;
    /* Sessions authenticated under the old state must go. */
    if (exists &&
        (!d.enabled || strcmp(d.primary_key, cur.primary_key) ||
         strcmp(d.secondary_key, cur.secondary_key)) &&
        (rc = log_change(r, d.device_id, d.module_id)))
        goto out;
    rc = REG_OK;
out:
    sqlite3_finalize(st);
    if (rc == REG_OK && sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL))
        rc = REG_DB;
    if (rc != REG_OK)
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    if (rc == REG_OK) {
        if (out)
            *out = d;
        if (created)
            *created = !exists;
    }
    tpmiot_wipe(&d, sizeof d);
    tpmiot_wipe(&cur, sizeof cur);
    return rc;
}

reg_rc registry_device_delete(hub_registry *r, const char *device_id, const char *module_id,
                              const char *if_match)
{
    sqlite3_stmt *st = NULL;
    reg_device cur;
    const char *mod = module_id ? module_id : "";
    reg_rc rc;

    if (sqlite3_exec(r->db, "BEGIN IMMEDIATE", NULL, NULL, NULL))
        return REG_DB;
    if ((rc = registry_device_get(r, device_id, mod, &cur)))
        goto out;
    if (!etag_matches(&cur, if_match)) {
        rc = REG_PRECONDITION;
        goto out;
    }
    rc = REG_DB;
    /* A device takes its modules with it. */
    if (sqlite3_prepare_v2(r->db,
                           *mod ? "DELETE FROM devices WHERE device_id=? AND module_id=?"
                                : "DELETE FROM devices WHERE device_id=?",
                           -1, &st, NULL))
        goto out;
    sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
    if (*mod)
        sqlite3_bind_text(st, 2, mod, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto out;
    rc = log_change(r, device_id, mod);
out:
    sqlite3_finalize(st);
    if (rc == REG_OK && sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL))
        rc = REG_DB;
    if (rc != REG_OK)
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    tpmiot_wipe(&cur, sizeof cur);
    return rc;
}

reg_rc registry_device_list(hub_registry *r, unsigned max, void (*fn)(const reg_device *, void *),
                            void *arg)
{
    sqlite3_stmt *st;
    reg_device d;
    int s;

    if (sqlite3_prepare_v2(r->db,
                           "SELECT " COLS " FROM devices WHERE module_id='' ORDER BY device_id"
                           " LIMIT ?",
                           -1, &st, NULL))
        return REG_DB;
    sqlite3_bind_int64(st, 1, max ? (sqlite3_int64)max : -1);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        row_to_device(st, &d);
        fn(&d, arg);
    }
    tpmiot_wipe(&d, sizeof d);
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? REG_OK : REG_DB;
}

reg_rc registry_policy_get(hub_registry *r, const char *name, reg_policy *out)
{
    sqlite3_stmt *st;
    reg_rc rc = REG_NOT_FOUND;

    if (sqlite3_prepare_v2(r->db,
                           "SELECT name, rights, primary_key, secondary_key FROM policies"
                           " WHERE name=?",
                           -1, &st, NULL))
        return REG_DB;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        copy_text(out->name, sizeof out->name, sqlite3_column_text(st, 0));
        out->rights = (unsigned)sqlite3_column_int(st, 1);
        copy_text(out->primary_key, sizeof out->primary_key, sqlite3_column_text(st, 2));
        copy_text(out->secondary_key, sizeof out->secondary_key, sqlite3_column_text(st, 3));
        rc = REG_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

reg_rc registry_policy_put(hub_registry *r, const reg_policy *p)
{
    sqlite3_stmt *st;
    int s;

    if (sqlite3_prepare_v2(r->db,
                           "INSERT OR REPLACE INTO policies(name, rights, primary_key,"
                           " secondary_key) VALUES(?,?,?,?)",
                           -1, &st, NULL))
        return REG_DB;
    sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)p->rights);
    sqlite3_bind_text(st, 3, p->primary_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, p->secondary_key, -1, SQLITE_STATIC);
    s = sqlite3_step(st);
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? REG_OK : REG_DB;
}

static reg_rc exec_dev(hub_registry *r, const char *sql, const char *dev, const char *mod,
                       int64_t a, int64_t b)
{
    sqlite3_stmt *st;
    int s;

    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL))
        return REG_DB;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    sqlite3_bind_text(st, 3, dev, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, mod ? mod : "", -1, SQLITE_STATIC);
    s = sqlite3_step(st);
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? REG_OK : REG_DB;
}

reg_rc registry_set_connected(hub_registry *r, const char *device_id, const char *module_id,
                              bool connected, int64_t now)
{
    return exec_dev(r,
                    "UPDATE devices SET connected=?1, connection_state_updated=?2,"
                    " last_activity=CASE WHEN ?1 THEN ?2 ELSE last_activity END"
                    " WHERE device_id=?3 AND module_id=?4",
                    device_id, module_id, connected, now);
}

reg_rc registry_reset_connections(hub_registry *r, int64_t now)
{
    sqlite3_stmt *st;
    int s;

    if (sqlite3_prepare_v2(r->db,
                           "UPDATE devices SET connected=0, connection_state_updated=? WHERE"
                           " connected=1",
                           -1, &st, NULL))
        return REG_DB;
    sqlite3_bind_int64(st, 1, now);
    s = sqlite3_step(st);
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? REG_OK : REG_DB;
}

reg_rc registry_touch(hub_registry *r, const char *device_id, const char *module_id, int64_t now)
{
    return exec_dev(r,
                    "UPDATE devices SET last_activity=?2 WHERE ?1=?1 AND device_id=?3 AND"
                    " module_id=?4",
                    device_id, module_id, 0, now);
}

reg_rc registry_c2d_count_add(hub_registry *r, const char *device_id, int delta)
{
    return exec_dev(r,
                    "UPDATE devices SET c2d_count=MAX(0, c2d_count+?1) WHERE ?2=?2 AND"
                    " device_id=?3 AND module_id=?4",
                    device_id, "", delta, 0);
}

reg_rc registry_changes_since(hub_registry *r, int64_t *seq,
                              void (*fn)(const char *dev, const char *mod, void *), void *arg)
{
    sqlite3_stmt *st;
    int s;

    if (*seq == 0) {
        if (sqlite3_prepare_v2(r->db, "SELECT COALESCE(MAX(seq), 0) FROM changes", -1, &st, NULL))
            return REG_DB;
        if (sqlite3_step(st) == SQLITE_ROW)
            *seq = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (*seq == 0)
            *seq = -1; /* "started, nothing yet": 0 stays the not-started mark */
        return REG_OK;
    }
    if (sqlite3_prepare_v2(r->db,
                           "SELECT seq, device_id, module_id FROM changes WHERE seq > ?"
                           " ORDER BY seq",
                           -1, &st, NULL))
        return REG_DB;
    sqlite3_bind_int64(st, 1, *seq < 0 ? 0 : *seq);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
        fn((const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 2), arg);
    }
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? REG_OK : REG_DB;
}

bool registry_changed(hub_registry *r)
{
    sqlite3_stmt *st;
    int v = 0;
    bool changed;

    if (sqlite3_prepare_v2(r->db, "PRAGMA data_version", -1, &st, NULL))
        return true;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    changed = v != r->data_version;
    r->data_version = v;
    return changed;
}
