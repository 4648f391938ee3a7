/* The ten identity slots: Limpet's layout, atomic changes through a journal. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <tpmiot/codec.h>
#include "tpm_int.h"

/*
 * How a slot change stays atomic (docs/internals.md has the long form).
 * Limpet's layout has a key handle and a URI index per slot and nowhere to
 * mark "in the middle of a change", so we add one NV index per slot outside
 * Limpet's range: the journal. A change is
 *   1. make the new key object (TPM2_Create; the TPM's state is unchanged),
 *   2. write the journal: op, new URI, the key object (public + private parts,
 *      the private part encrypted by the SRK, useless off this TPM), SHA-256,
 *   3. roll forward: put the new key at the slot's handle and the new URI into
 *      the slot's index, replacing what is there, then delete the journal.
 * A journal that does not verify (the process died while writing it) is
 * deleted: the slot was not touched yet. One that verifies is rolled forward,
 * by whoever opens the TPM next; every step of the roll-forward checks before
 * it acts, so it can be cut short and run again any number of times.
 */

#define JOURNAL_MAGIC "TIJ1"
enum { OP_PROVISION = 1, OP_DESTROY = 2 };
#define URI_MAX (TPMIOT_HOSTNAME_MAX + 2 * TPMIOT_ID_MAX + 2)

static uint32_t key_handle(unsigned slot)
{
    return TPMIOT_KEY_HANDLE_BASE + slot;
}

static uint32_t uri_index(unsigned slot)
{
    return TPMIOT_URI_NV_BASE + slot;
}

static uint32_t journal_index(unsigned slot)
{
    return TPM_JOURNAL_NV_BASE + slot;
}

tpmiot_rc slot__identity_check(const tpmiot_identity *id)
{
    const char *mod = id->module_id ? id->module_id : "";
    const char *dev = id->device_id ? id->device_id : "";

    if (tpmiot_hostname_check(id->hostname))
        return TPMIOT_E_BAD_HOSTNAME;
    if (*dev && tpmiot_device_id_check(dev))
        return TPMIOT_E_BAD_DEVICE_ID;
    if (*mod && (!*dev || tpmiot_device_id_check(mod)))
        return TPMIOT_E_BAD_MODULE_ID;
    return TPMIOT_OK;
}

static tpmiot_rc uri_build(const tpmiot_identity *id, char *out, size_t len, size_t *n)
{
    const char *mod = id->module_id ? id->module_id : "";
    const char *dev = id->device_id ? id->device_id : "";
    tpmiot_rc rc = slot__identity_check(id);
    int k;

    if (rc)
        return rc;
    if (*mod)
        k = snprintf(out, len, "%s/%s/%s", id->hostname, dev, mod);
    else if (*dev)
        k = snprintf(out, len, "%s/%s", id->hostname, dev);
    else
        k = snprintf(out, len, "%s", id->hostname);
    if (k < 0 || (size_t)k >= len)
        return TPMIOT_E_INVALID_ARG;
    *n = (size_t)k;
    return TPMIOT_OK;
}

/* "host[/device[/module]]" from NV bytes (no terminator) into info. */
static tpmiot_rc uri_parse(const uint8_t *uri, size_t len, tpmiot_slot_info *info)
{
    char buf[URI_MAX + 1], *parts[3] = {buf, NULL, NULL}, *p;
    int n = 1;

    if (len == 0 || len > URI_MAX || memchr(uri, '\0', len))
        return TPMIOT_E_SLOT_CORRUPT;
    memcpy(buf, uri, len);
    buf[len] = '\0';
    for (p = buf; *p; p++) {
        if (*p != '/')
            continue;
        if (n == 3)
            return TPMIOT_E_SLOT_CORRUPT;
        *p = '\0';
        parts[n++] = p + 1;
    }
    if (tpmiot_hostname_check(parts[0]) || (parts[1] && tpmiot_device_id_check(parts[1])) ||
        (parts[2] && tpmiot_device_id_check(parts[2])))
        return TPMIOT_E_SLOT_CORRUPT;
    /* The checks above bound each part to its field. */
    memcpy(info->hostname, parts[0], strlen(parts[0]) + 1);
    memcpy(info->device_id, parts[1] ? parts[1] : "", parts[1] ? strlen(parts[1]) + 1 : 1);
    memcpy(info->module_id, parts[2] ? parts[2] : "", parts[2] ? strlen(parts[2]) + 1 : 1);
    return TPMIOT_OK;
}

struct journal {
    uint8_t op;
    const uint8_t *uri;
    size_t uri_len;
    const uint8_t *blob;
    size_t blob_len;
};

static size_t journal_encode(const struct journal *j, uint8_t *out)
{
    size_t o = 0;

    memcpy(out, JOURNAL_MAGIC, 4);
    o = 4;
    out[o++] = j->op;
    out[o++] = (uint8_t)(j->uri_len >> 8);
    out[o++] = (uint8_t)j->uri_len;
    if (j->uri_len) /* a destroy has none, and memcpy from NULL is undefined */
        memcpy(out + o, j->uri, j->uri_len);
    o += j->uri_len;
    out[o++] = (uint8_t)(j->blob_len >> 8);
    out[o++] = (uint8_t)j->blob_len;
    if (j->blob_len)
        memcpy(out + o, j->blob, j->blob_len);
    o += j->blob_len;
    SHA256(out, o, out + o);
    return o + SHA256_DIGEST_LENGTH;
}

static bool journal_decode(const uint8_t *in, size_t len, struct journal *j)
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    size_t o = 5;

    if (len < 4 + 1 + 2 + 2 + SHA256_DIGEST_LENGTH || memcmp(in, JOURNAL_MAGIC, 4))
        return false;
    len -= SHA256_DIGEST_LENGTH;
    SHA256(in, len, md);
    if (memcmp(md, in + len, sizeof md))
        return false;
    j->op = in[4];
    j->uri_len = (size_t)in[o] << 8 | in[o + 1];
    o += 2;
    if (o + j->uri_len + 2 > len)
        return false;
    j->uri = in + o;
    o += j->uri_len;
    j->blob_len = (size_t)in[o] << 8 | in[o + 1];
    o += 2;
    if (o + j->blob_len != len)
        return false;
    j->blob = in + o;
    if (j->op == OP_PROVISION)
        return j->uri_len > 0 && j->blob_len > 0;
    return j->op == OP_DESTROY && j->uri_len == 0 && j->blob_len == 0;
}

static tpmiot_rc roll_forward(tpmiot_tpm *t, unsigned slot, const struct journal *j)
{
    uint8_t cur[URI_MAX];
    size_t cur_len = sizeof cur;
    bool same = false;
    tpmiot_rc rc;

    /* The key first: a URI is never left naming a key it did not come with,
     * since the journal (which wins) names both until the end. */
    if (j->op == OP_PROVISION) {
        rc = t->be->key_matches(t, key_handle(slot), j->blob, j->blob_len, &same);
        if (rc && rc != TPMIOT_E_SLOT_EMPTY)
            return rc;
        if (!rc && !same && (rc = t->be->key_evict(t, key_handle(slot))))
            return rc;
        if (!same && (rc = t->be->key_persist(t, j->blob, j->blob_len, key_handle(slot))))
            return rc;
    } else if ((rc = t->be->key_evict(t, key_handle(slot)))) {
        return rc;
    }

    same = false;
    rc = t->be->nv_read(t, uri_index(slot), cur, &cur_len);
    if (!rc && j->op == OP_PROVISION)
        same = cur_len == j->uri_len && !memcmp(cur, j->uri, cur_len);
    else if (rc && rc != TPMIOT_E_SLOT_EMPTY && rc != TPMIOT_E_SLOT_CORRUPT &&
             rc != TPMIOT_E_BUFFER_SMALL)
        return rc;
    if (!same && rc != TPMIOT_E_SLOT_EMPTY && (rc = t->be->nv_delete(t, uri_index(slot))))
        return rc;
    if (!same && j->op == OP_PROVISION &&
        (rc = t->be->nv_write(t, uri_index(slot), j->uri, j->uri_len)))
        return rc;
    return t->be->nv_delete(t, journal_index(slot));
}

tpmiot_rc slot__recover(tpmiot_tpm *t, unsigned slot)
{
    uint8_t buf[TPM_NV_MAX];
    size_t len = sizeof buf;
    struct journal j;
    tpmiot_rc rc = t->be->nv_read(t, journal_index(slot), buf, &len);

    if (rc == TPMIOT_E_SLOT_EMPTY)
        return TPMIOT_OK;
    if (rc && rc != TPMIOT_E_SLOT_CORRUPT && rc != TPMIOT_E_BUFFER_SMALL)
        return rc;
    /* Unwritten, torn or foreign: the change never reached its commit point. */
    if (rc || !journal_decode(buf, len, &j))
        return t->be->nv_delete(t, journal_index(slot));
    return roll_forward(t, slot, &j);
}

static tpmiot_rc commit(tpmiot_tpm *t, unsigned slot, const struct journal *j)
{
    uint8_t buf[TPM_NV_MAX];
    size_t len;
    tpmiot_rc rc;

    len = journal_encode(j, buf);
    /* The journal write is the commit point; from here on the new state wins. */
    if ((rc = t->be->nv_write(t, journal_index(slot), buf, len)))
        return rc;
    return roll_forward(t, slot, j);
}

tpmiot_rc tpmiot_slot_provision(tpmiot_tpm *t, unsigned slot, const tpmiot_identity *id,
                                uint8_t *key, size_t key_len)
{
    char uri[URI_MAX + 1];
    uint8_t blob[TPM_BLOB_MAX];
    size_t uri_len = 0, blob_len = sizeof blob;
    uint8_t name[TPM_NAME_MAX];
    size_t name_len = sizeof name;
    struct journal j;
    tpmiot_rc rc;

    if (!t || !id || !key) {
        rc = TPMIOT_E_INVALID_ARG;
        goto out;
    }
    if (slot >= TPMIOT_SLOT_COUNT) {
        rc = TPMIOT_E_SLOT_RANGE;
        goto out;
    }
    if (key_len < TPMIOT_KEY_MIN || key_len > TPMIOT_KEY_MAX) {
        rc = TPMIOT_E_BAD_KEY;
        goto out;
    }
    if ((rc = uri_build(id, uri, sizeof uri, &uri_len)))
        goto out;
    if ((rc = slot__recover(t, slot)))
        goto out;
    if ((rc = t->be->srk_name(t, true, name, &name_len)))
        goto out;
    rc = t->be->key_create(t, key, key_len, blob, &blob_len);
    /* The TPM has the key now (or refused it); nobody else needs this copy. */
    tpmiot_wipe(key, key_len);
    if (rc)
        goto out;
    j = (struct journal){OP_PROVISION, (const uint8_t *)uri, uri_len, blob, blob_len};
    rc = commit(t, slot, &j);
out:
    if (key)
        tpmiot_wipe(key, key_len);
    return rc;
}

tpmiot_rc tpmiot_slot_provision_connstr(tpmiot_tpm *t, unsigned slot, char *connstr)
{
    tpmiot_connstr c;
    uint8_t key[TPMIOT_KEY_MAX + 3];
    size_t key_len = sizeof key;
    tpmiot_rc rc;

    if (!connstr)
        return TPMIOT_E_INVALID_ARG;
    rc = tpmiot_connstr_parse(connstr, &c);
    tpmiot_wipe(connstr, strlen(connstr));
    if (rc)
        goto out;
    if (!c.host_name[0] || !c.device_id[0] || !c.shared_access_key[0]) {
        rc = TPMIOT_E_CONNSTR_MISSING;
        goto out;
    }
    rc = tpmiot_base64_decode(c.shared_access_key, strlen(c.shared_access_key), key, &key_len);
    if (rc) {
        rc = TPMIOT_E_BAD_KEY;
        key_len = 0;
        goto out;
    }
    tpmiot_identity id = {c.host_name, c.device_id, c.module_id};
    rc = tpmiot_slot_provision(t, slot, &id, key, key_len);
out:
    tpmiot_wipe(key, sizeof key);
    tpmiot_connstr_wipe(&c);
    return rc;
}

tpmiot_rc tpmiot_slot_destroy(tpmiot_tpm *t, unsigned slot)
{
    struct journal j = {OP_DESTROY, NULL, 0, NULL, 0};
    tpmiot_slot_info info;
    tpmiot_rc rc;

    if (!t)
        return TPMIOT_E_INVALID_ARG;
    if (slot >= TPMIOT_SLOT_COUNT)
        return TPMIOT_E_SLOT_RANGE;
    if ((rc = slot__recover(t, slot)))
        return rc;
    rc = tpmiot_slot_info_get(t, slot, &info);
    if (rc && rc != TPMIOT_E_SLOT_CORRUPT)
        return rc;
    if (!rc && !info.key_present && !info.uri_present)
        return TPMIOT_OK;
    return commit(t, slot, &j);
}

static tpmiot_rc hw_id(tpmiot_tpm *t, unsigned slot, char out[65])
{
    uint8_t name[TPM_NAME_MAX + 1], md[SHA256_DIGEST_LENGTH];
    size_t len = sizeof name - 1;
    tpmiot_rc rc = t->be->srk_name(t, false, name + 1, &len);

    if (rc)
        return rc;
    name[0] = (uint8_t)slot;
    SHA256(name, len + 1, md);
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return TPMIOT_OK;
}

tpmiot_rc tpmiot_slot_hw_device_id(tpmiot_tpm *t, unsigned slot, char out[65])
{
    if (!t || !out)
        return TPMIOT_E_INVALID_ARG;
    if (slot >= TPMIOT_SLOT_COUNT)
        return TPMIOT_E_SLOT_RANGE;
    return hw_id(t, slot, out);
}

/* Fills the URI part of info from the TPM; key_present is the caller's. */
static tpmiot_rc read_uri(tpmiot_tpm *t, unsigned slot, tpmiot_slot_info *info)
{
    uint8_t uri[URI_MAX];
    size_t len = sizeof uri;
    tpmiot_rc rc = t->be->nv_read(t, uri_index(slot), uri, &len);

    if (rc == TPMIOT_E_SLOT_EMPTY)
        return TPMIOT_OK;
    info->uri_present = true;
    if (rc == TPMIOT_E_BUFFER_SMALL)
        return TPMIOT_E_SLOT_CORRUPT;
    if (rc || (rc = uri_parse(uri, len, info)))
        return rc;
    if (!info->device_id[0] && info->key_present) {
        if ((rc = hw_id(t, slot, info->device_id)))
            return rc;
        info->device_id_derived = true;
    }
    return TPMIOT_OK;
}

static bool in_list(const uint32_t *h, size_t n, uint32_t v)
{
    for (size_t i = 0; i < n; i++)
        if (h[i] == v)
            return true;
    return false;
}

tpmiot_rc tpmiot_slot_info_get(tpmiot_tpm *t, unsigned slot, tpmiot_slot_info *out)
{
    uint32_t h[1];
    size_t n = 0;
    tpmiot_rc rc;

    if (!t || !out)
        return TPMIOT_E_INVALID_ARG;
    if (slot >= TPMIOT_SLOT_COUNT)
        return TPMIOT_E_SLOT_RANGE;
    memset(out, 0, sizeof *out);
    out->slot = slot;
    if ((rc = t->be->handles(t, key_handle(slot), 1, h, &n)))
        return rc;
    out->key_present = n == 1;
    return read_uri(t, slot, out);
}

tpmiot_rc tpmiot_slot_list(tpmiot_tpm *t, tpmiot_slot_info out[TPMIOT_SLOT_COUNT])
{
    uint32_t keys[TPMIOT_SLOT_COUNT], uris[TPMIOT_SLOT_COUNT];
    size_t nk = 0, nu = 0;
    tpmiot_rc rc;

    if (!t || !out)
        return TPMIOT_E_INVALID_ARG;
    if ((rc = t->be->handles(t, TPMIOT_KEY_HANDLE_BASE, TPMIOT_SLOT_COUNT, keys, &nk)) ||
        (rc = t->be->handles(t, TPMIOT_URI_NV_BASE, TPMIOT_SLOT_COUNT, uris, &nu)))
        return rc;
    for (unsigned s = 0; s < TPMIOT_SLOT_COUNT; s++) {
        memset(&out[s], 0, sizeof out[s]);
        out[s].slot = s;
        out[s].key_present = in_list(keys, nk, key_handle(s));
        if (!in_list(uris, nu, uri_index(s)))
            continue;
        rc = read_uri(t, s, &out[s]);
        if (rc == TPMIOT_E_SLOT_CORRUPT) {
            out[s].hostname[0] = out[s].device_id[0] = out[s].module_id[0] = '\0';
            out[s].uri_present = true;
            continue;
        }
        if (rc)
            return rc;
    }
    return TPMIOT_OK;
}

tpmiot_rc tpmiot_slot_hmac(tpmiot_tpm *t, unsigned slot, const void *data, size_t len,
                           uint8_t mac[32])
{
    uint32_t ref;
    tpmiot_rc rc;

    if (!t || (!data && len) || !mac)
        return TPMIOT_E_INVALID_ARG;
    if (slot >= TPMIOT_SLOT_COUNT)
        return TPMIOT_E_SLOT_RANGE;
    if ((rc = t->be->key_open(t, key_handle(slot), &ref)))
        return rc;
    rc = t->be->hmac(t, ref, data, len, mac);
    t->be->key_close(t, ref);
    return rc;
}
