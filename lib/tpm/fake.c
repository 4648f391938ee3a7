/* An in-memory TPM backend for unit tests. Keys are kept in the clear: test only. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fake.h"

#define F(t) ((struct tpm__fake *)(t)->impl)
#define BLOB_HDR 8 /* "FAKE" + counter */

static tpmiot_rc alive(tpmiot_tpm *t)
{
    F(t)->commands++;
    return F(t)->dead ? TPMIOT_E_TPM : TPMIOT_OK;
}

static struct tpm__fake_nv *nv_find(struct tpm__fake *f, uint32_t index)
{
    for (int i = 0; i < FAKE_OBJECTS; i++)
        if (f->nv[i].index == index)
            return &f->nv[i];
    return NULL;
}

static struct tpm__fake_key *key_find(struct tpm__fake *f, uint32_t handle)
{
    for (int i = 0; i < FAKE_OBJECTS; i++)
        if (f->keys[i].handle == handle)
            return &f->keys[i];
    return NULL;
}

static tpmiot_rc fake_handles(tpmiot_tpm *t, uint32_t first, uint32_t count, uint32_t *out,
                              size_t *n)
{
    struct tpm__fake *f = F(t);
    size_t k = 0;

    if (alive(t))
        return TPMIOT_E_TPM;
    /* Sorted, as the TPM returns them. */
    for (uint32_t h = first; h - first < count; h++)
        if ((h >> 24 == 0x01 && nv_find(f, h)) || (h >> 24 == 0x81 && key_find(f, h)))
            out[k++] = h;
    *n = k;
    return TPMIOT_OK;
}

static tpmiot_rc fake_srk_name(tpmiot_tpm *t, bool create, uint8_t *name, size_t *len)
{
    struct tpm__fake *f = F(t);

    if (alive(t))
        return TPMIOT_E_TPM;
    if (!f->srk) {
        if (!create)
            return TPMIOT_E_SLOT_EMPTY;
        if (tpm__mutation(t))
            return TPMIOT_E_TPM;
        f->srk = true;
    }
    if (*len < 34)
        return TPMIOT_E_BUFFER_SMALL;
    memset(name, 0x5a, 34);
    name[0] = 0x00;
    name[1] = 0x0b;
    *len = 34;
    return TPMIOT_OK;
}

static tpmiot_rc fake_key_create(tpmiot_tpm *t, const uint8_t *key, size_t len, uint8_t *blob,
                                 size_t *blob_len)
{
    struct tpm__fake *f = F(t);

    if (alive(t))
        return TPMIOT_E_TPM;
    if (!f->srk)
        return TPMIOT_E_SLOT_EMPTY;
    if (*blob_len < BLOB_HDR + len)
        return TPMIOT_E_BUFFER_SMALL;
    memcpy(blob, "FAKE", 4);
    f->counter++;
    memcpy(blob + 4, &f->counter, 4);
    memcpy(blob + BLOB_HDR, key, len);
    *blob_len = BLOB_HDR + len;
    return TPMIOT_OK;
}

static tpmiot_rc fake_key_persist(tpmiot_tpm *t, const uint8_t *blob, size_t blob_len,
                                  uint32_t handle)
{
    struct tpm__fake *f = F(t);
    struct tpm__fake_key *k;

    if (alive(t))
        return TPMIOT_E_TPM;
    if (blob_len <= BLOB_HDR || blob_len > TPM_BLOB_MAX || memcmp(blob, "FAKE", 4))
        return TPMIOT_E_SLOT_CORRUPT;
    if (key_find(f, handle) || !(k = key_find(f, 0)))
        return TPMIOT_E_TPM;
    if (tpm__mutation(t))
        return TPMIOT_E_TPM;
    k->handle = handle;
    memcpy(k->blob, blob, blob_len);
    k->blob_len = blob_len;
    return TPMIOT_OK;
}

static tpmiot_rc fake_key_matches(tpmiot_tpm *t, uint32_t handle, const uint8_t *blob,
                                  size_t blob_len, bool *match)
{
    struct tpm__fake_key *k;

    if (alive(t))
        return TPMIOT_E_TPM;
    if (!(k = key_find(F(t), handle)))
        return TPMIOT_E_SLOT_EMPTY;
    *match = k->blob_len == blob_len && !memcmp(k->blob, blob, blob_len);
    return TPMIOT_OK;
}

static tpmiot_rc fake_key_evict(tpmiot_tpm *t, uint32_t handle)
{
    struct tpm__fake_key *k;

    if (alive(t))
        return TPMIOT_E_TPM;
    if (!(k = key_find(F(t), handle)))
        return TPMIOT_OK;
    if (tpm__mutation(t))
        return TPMIOT_E_TPM;
    memset(k, 0, sizeof *k);
    return TPMIOT_OK;
}

static tpmiot_rc fake_key_open(tpmiot_tpm *t, uint32_t handle, uint32_t *ref)
{
    if (alive(t))
        return TPMIOT_E_TPM;
    if (!key_find(F(t), handle))
        return TPMIOT_E_SLOT_EMPTY;
    *ref = handle;
    return TPMIOT_OK;
}

static void fake_key_close(tpmiot_tpm *t, uint32_t ref)
{
    (void)t;
    (void)ref;
}

static tpmiot_rc fake_hmac(tpmiot_tpm *t, uint32_t ref, const uint8_t *data, size_t len,
                           uint8_t mac[32])
{
    struct tpm__fake_key *k;
    unsigned int n = 32;

    if (alive(t))
        return TPMIOT_E_TPM;
    if (!(k = key_find(F(t), ref)))
        return TPMIOT_E_TPM;
    if (!HMAC(EVP_sha256(), k->blob + BLOB_HDR, (int)(k->blob_len - BLOB_HDR),
              len ? data : (const uint8_t *)"", len, mac, &n))
        return TPMIOT_E_CRYPTO;
    return TPMIOT_OK;
}

static tpmiot_rc fake_nv_read(tpmiot_tpm *t, uint32_t index, uint8_t *buf, size_t *len)
{
    struct tpm__fake_nv *v;

    if (alive(t))
        return TPMIOT_E_TPM;
    if (!(v = nv_find(F(t), index)))
        return TPMIOT_E_SLOT_EMPTY;
    if (!v->written)
        return TPMIOT_E_SLOT_CORRUPT;
    if (v->len > *len)
        return TPMIOT_E_BUFFER_SMALL;
    memcpy(buf, v->data, v->len);
    *len = v->len;
    return TPMIOT_OK;
}

static tpmiot_rc fake_nv_write(tpmiot_tpm *t, uint32_t index, const uint8_t *buf, size_t len)
{
    struct tpm__fake *f = F(t);
    struct tpm__fake_nv *v;

    if (alive(t))
        return TPMIOT_E_TPM;
    if (len == 0 || len > TPM_NV_MAX)
        return TPMIOT_E_INVALID_ARG;
    if (nv_find(f, index) || !(v = nv_find(f, 0)))
        return TPMIOT_E_TPM;
    if (tpm__mutation(t))
        return TPMIOT_E_TPM;
    v->index = index;
    v->len = len;
    v->written = false;
    memset(v->data, 0xff, len);
    /* Chunked like the ESYS backend, so a torn write can be simulated. */
    for (size_t off = 0; off < len; off += 512) {
        size_t n = len - off > 512 ? 512 : len - off;
        if (tpm__mutation(t))
            return TPMIOT_E_TPM;
        memcpy(v->data + off, buf + off, n);
        v->written = true;
    }
    return TPMIOT_OK;
}

static tpmiot_rc fake_nv_delete(tpmiot_tpm *t, uint32_t index)
{
    struct tpm__fake_nv *v;

    if (alive(t))
        return TPMIOT_E_TPM;
    if (!(v = nv_find(F(t), index)))
        return TPMIOT_OK;
    if (tpm__mutation(t))
        return TPMIOT_E_TPM;
    memset(v, 0, sizeof *v);
    return TPMIOT_OK;
}

static tpmiot_rc fake_info(tpmiot_tpm *t, tpmiot_tpm_info *out)
{
    if (alive(t))
        return TPMIOT_E_TPM;
    memset(out, 0, sizeof *out);
    memcpy(out->manufacturer, "FAKE", 5);
    memcpy(out->vendor, "unit test", 10);
    memcpy(out->family, "2.0", 4);
    out->revision = 164;
    out->software = true;
    return TPMIOT_OK;
}

static void fake_close(tpmiot_tpm *t)
{
    t->impl = NULL; /* the state belongs to the test */
}

const struct tpm__backend tpm__fake_backend = {
    .name = "fake",
    .handles = fake_handles,
    .srk_name = fake_srk_name,
    .key_create = fake_key_create,
    .key_persist = fake_key_persist,
    .key_matches = fake_key_matches,
    .key_evict = fake_key_evict,
    .key_open = fake_key_open,
    .key_close = fake_key_close,
    .hmac = fake_hmac,
    .nv_read = fake_nv_read,
    .nv_write = fake_nv_write,
    .nv_delete = fake_nv_delete,
    .info = fake_info,
    .close = fake_close,
};

tpmiot_rc tpm__fake_open(tpmiot_tpm **out, struct tpm__fake *f)
{
    return tpm__open_backend(out, &tpm__fake_backend, f, "fake");
}
