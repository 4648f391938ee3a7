/* The TPM backend over tpm2-tss ESYS and a TCTI. */
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_sys.h>
#include <tss2/tss2_tctildr.h>

#include <tpmiot/codec.h>
#include "../tpm_int.h"

struct esys {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *ctx;
    ESYS_TR srk; /* ESYS_TR_NONE until first needed */
};

#define E(t) ((struct esys *)(t)->impl)
#define NV_CHUNK 512 /* below every TPM's TPM2_PT_NV_BUFFER_MAX we know of */

static tpmiot_rc fail(tpmiot_tpm *t, TSS2_RC rc)
{
    t->last_tss_rc = rc;
    return TPMIOT_E_TPM;
}

/* TPM_RC_HANDLE (format one, any parameter number): no object at that handle. */
static bool handle_absent(TSS2_RC rc)
{
    return (rc & 0xBF) == 0x8B || (rc & 0xFFF) == TPM2_RC_HANDLE;
}

static tpmiot_rc esys_handles(tpmiot_tpm *t, uint32_t first, uint32_t count, uint32_t *out,
                              size_t *n);

/*
 * An ESYS_TR for a persistent object or NV index. Asks GetCapability first
 * whether it exists: ESYS logs every failed TR_FromTPMPublic to stderr, and
 * "absent" is an everyday answer here, not an error worth a log line.
 */
static tpmiot_rc tr_from(tpmiot_tpm *t, uint32_t handle, ESYS_TR *tr)
{
    uint32_t h;
    size_t n = 0;
    tpmiot_rc r = esys_handles(t, handle, 1, &h, &n);
    TSS2_RC rc;

    if (r)
        return r;
    if (n == 0)
        return TPMIOT_E_SLOT_EMPTY;
    rc = Esys_TR_FromTPMPublic(E(t)->ctx, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, tr);
    if (rc == TSS2_RC_SUCCESS)
        return TPMIOT_OK;
    if (handle_absent(rc))
        return TPMIOT_E_SLOT_EMPTY;
    return fail(t, rc);
}

static void tr_close(tpmiot_tpm *t, ESYS_TR *tr)
{
    if (*tr != ESYS_TR_NONE)
        Esys_TR_Close(E(t)->ctx, tr);
    *tr = ESYS_TR_NONE;
}

static tpmiot_rc esys_handles(tpmiot_tpm *t, uint32_t first, uint32_t count, uint32_t *out,
                              size_t *n)
{
    TPMS_CAPABILITY_DATA *cap = NULL;
    TPMI_YES_NO more = 0;
    TSS2_RC rc = Esys_GetCapability(E(t)->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                    TPM2_CAP_HANDLES, first, count, &more, &cap);
    size_t k = 0;

    if (rc)
        return fail(t, rc);
    for (UINT32 i = 0; i < cap->data.handles.count; i++) {
        uint32_t h = cap->data.handles.handle[i];
        if (h >= first && h - first < count && k < count)
            out[k++] = h;
    }
    *n = k;
    Esys_Free(cap);
    return TPMIOT_OK;
}

/* ECC P-256 storage key, the TCG's SRK template (also what tpm2_createprimary -G ecc makes). */
static const TPM2B_PUBLIC srk_template = {
    .publicArea =
        {
            .type = TPM2_ALG_ECC,
            .nameAlg = TPM2_ALG_SHA256,
            .objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |
                                TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                TPMA_OBJECT_NODA,
            .parameters.eccDetail =
                {
                    .symmetric = {.algorithm = TPM2_ALG_AES,
                                  .keyBits.aes = 128,
                                  .mode.aes = TPM2_ALG_CFB},
                    .scheme = {.scheme = TPM2_ALG_NULL},
                    .curveID = TPM2_ECC_NIST_P256,
                    .kdf = {.scheme = TPM2_ALG_NULL},
                },
        },
};

static tpmiot_rc srk_load(tpmiot_tpm *t, bool create)
{
    struct esys *e = E(t);
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    ESYS_TR prim = ESYS_TR_NONE;
    tpmiot_rc r;
    TSS2_RC rc;

    if (e->srk != ESYS_TR_NONE)
        return TPMIOT_OK;
    r = tr_from(t, TPMIOT_SRK_HANDLE, &e->srk);
    if (r != TPMIOT_E_SLOT_EMPTY || !create)
        return r;
    rc = Esys_CreatePrimary(e->ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                            &sens, &srk_template, &outside, &pcrs, &prim, NULL, NULL, NULL, NULL);
    if (rc)
        return fail(t, rc);
    if ((r = tpm__mutation(t)))
        goto out;
    rc = Esys_EvictControl(e->ctx, ESYS_TR_RH_OWNER, prim, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                           ESYS_TR_NONE, TPMIOT_SRK_HANDLE, &e->srk);
    if (rc)
        r = fail(t, rc);
out:
    Esys_FlushContext(e->ctx, prim);
    return r;
}

static tpmiot_rc esys_srk_name(tpmiot_tpm *t, bool create, uint8_t *name, size_t *len)
{
    TPM2B_NAME *n = NULL;
    tpmiot_rc r = srk_load(t, create);
    TSS2_RC rc;

    if (r)
        return r;
    rc = Esys_TR_GetName(E(t)->ctx, E(t)->srk, &n);
    if (rc)
        return fail(t, rc);
    if (n->size > *len) {
        Esys_Free(n);
        return TPMIOT_E_BUFFER_SMALL;
    }
    memcpy(name, n->name, n->size);
    *len = n->size;
    Esys_Free(n);
    return TPMIOT_OK;
}

static tpmiot_rc blob_split(const uint8_t *blob, size_t len, TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv)
{
    size_t off = 0;

    memset(pub, 0, sizeof *pub);
    memset(priv, 0, sizeof *priv);
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob, len, &off, pub) ||
        Tss2_MU_TPM2B_PRIVATE_Unmarshal(blob, len, &off, priv) || off != len)
        return TPMIOT_E_SLOT_CORRUPT;
    return TPMIOT_OK;
}

static tpmiot_rc esys_key_create(tpmiot_tpm *t, const uint8_t *key, size_t len, uint8_t *blob,
                                 size_t *blob_len)
{
    struct esys *e = E(t);
    TPM2B_PUBLIC in = {
        .publicArea =
            {
                .type = TPM2_ALG_KEYEDHASH,
                .nameAlg = TPM2_ALG_SHA256,
                .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                    TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_USERWITHAUTH |
                                    TPMA_OBJECT_NODA,
                .parameters.keyedHashDetail.scheme = {.scheme = TPM2_ALG_HMAC,
                                                      .details.hmac.hashAlg = TPM2_ALG_SHA256},
            },
    };
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};
    TPM2B_PRIVATE *priv = NULL;
    TPM2B_PUBLIC *pub = NULL;
    ESYS_TR sess = ESYS_TR_NONE;
    size_t off = 0;
    tpmiot_rc r;
    TSS2_RC rc;

    if (len > sizeof sens.sensitive.data.buffer)
        return TPMIOT_E_BAD_KEY;
    if ((r = srk_load(t, true)))
        return r;
    /* A session salted with the SRK encrypts the key on its way to the TPM,
     * so it does not cross the bus (or the swtpm socket) in the clear. */
    rc = Esys_StartAuthSession(e->ctx, e->srk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                               ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &sess);
    if (rc) {
        r = fail(t, rc);
        goto out;
    }
    rc = Esys_TRSess_SetAttributes(e->ctx, sess, TPMA_SESSION_DECRYPT,
                                   TPMA_SESSION_DECRYPT | TPMA_SESSION_CONTINUESESSION);
    if (rc) {
        r = fail(t, rc);
        goto out;
    }
    sens.sensitive.data.size = (UINT16)len;
    memcpy(sens.sensitive.data.buffer, key, len);
    rc = Esys_Create(e->ctx, e->srk, sess, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &in, &outside, &pcrs,
                     &priv, &pub, NULL, NULL, NULL);
    /* The session ends with the command (continueSession clear). */
    sess = ESYS_TR_NONE;
    if (rc) {
        r = fail(t, rc);
        goto out;
    }
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, blob, *blob_len, &off) ||
        Tss2_MU_TPM2B_PRIVATE_Marshal(priv, blob, *blob_len, &off)) {
        r = TPMIOT_E_BUFFER_SMALL;
        goto out;
    }
    *blob_len = off;
out:
    tpmiot_wipe(&sens, sizeof sens);
    if (sess != ESYS_TR_NONE)
        Esys_FlushContext(e->ctx, sess);
    Esys_Free(priv);
    Esys_Free(pub);
    return r;
}

static tpmiot_rc esys_key_persist(tpmiot_tpm *t, const uint8_t *blob, size_t blob_len,
                                  uint32_t handle)
{
    struct esys *e = E(t);
    TPM2B_PUBLIC pub;
    TPM2B_PRIVATE priv;
    ESYS_TR obj = ESYS_TR_NONE, pers = ESYS_TR_NONE;
    tpmiot_rc r;
    TSS2_RC rc;

    if ((r = blob_split(blob, blob_len, &pub, &priv)))
        return r;
    if ((r = srk_load(t, false)))
        return r;
    rc = Esys_Load(e->ctx, e->srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, &obj);
    if (rc)
        return fail(t, rc);
    if ((r = tpm__mutation(t)))
        goto out;
    rc = Esys_EvictControl(e->ctx, ESYS_TR_RH_OWNER, obj, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                           ESYS_TR_NONE, handle, &pers);
    if (rc)
        r = fail(t, rc);
out:
    tr_close(t, &pers);
    Esys_FlushContext(e->ctx, obj);
    return r;
}

static tpmiot_rc esys_key_matches(tpmiot_tpm *t, uint32_t handle, const uint8_t *blob,
                                  size_t blob_len, bool *match)
{
    TPM2B_PUBLIC want, *have = NULL;
    TPM2B_PRIVATE priv;
    uint8_t a[sizeof(TPM2B_PUBLIC)], b[sizeof(TPM2B_PUBLIC)];
    size_t alen = 0, blen = 0;
    ESYS_TR tr;
    tpmiot_rc r;
    TSS2_RC rc;

    if ((r = blob_split(blob, blob_len, &want, &priv)))
        return r;
    if ((r = tr_from(t, handle, &tr)))
        return r;
    rc =
        Esys_ReadPublic(E(t)->ctx, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &have, NULL, NULL);
    tr_close(t, &tr);
    if (rc)
        return fail(t, rc);
    /* Compare the canonical encodings: the public area includes the unique
     * field, a digest of this key's seed, so equal means the same key. */
    Tss2_MU_TPM2B_PUBLIC_Marshal(have, a, sizeof a, &alen);
    Tss2_MU_TPM2B_PUBLIC_Marshal(&want, b, sizeof b, &blen);
    *match = alen == blen && !memcmp(a, b, alen);
    Esys_Free(have);
    return TPMIOT_OK;
}

static tpmiot_rc esys_key_evict(tpmiot_tpm *t, uint32_t handle)
{
    ESYS_TR tr, none = ESYS_TR_NONE;
    tpmiot_rc r;
    TSS2_RC rc;

    if ((r = tr_from(t, handle, &tr)))
        return r == TPMIOT_E_SLOT_EMPTY ? TPMIOT_OK : r;
    if ((r = tpm__mutation(t))) {
        tr_close(t, &tr);
        return r;
    }
    rc = Esys_EvictControl(E(t)->ctx, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                           ESYS_TR_NONE, handle, &none);
    /* ESYS keeps its record of the evicted object; a later TR for the same
     * handle (the new key) would be checked against the old name and refused. */
    tr_close(t, &tr);
    return rc ? fail(t, rc) : TPMIOT_OK;
}

static tpmiot_rc esys_key_open(tpmiot_tpm *t, uint32_t handle, uint32_t *ref)
{
    ESYS_TR tr;
    tpmiot_rc r = tr_from(t, handle, &tr);

    if (!r)
        *ref = tr;
    return r;
}

static void esys_key_close(tpmiot_tpm *t, uint32_t ref)
{
    ESYS_TR tr = ref;
    tr_close(t, &tr);
}

static tpmiot_rc esys_hmac(tpmiot_tpm *t, uint32_t ref, const uint8_t *data, size_t len,
                           uint8_t mac[32])
{
    ESYS_CONTEXT *ctx = E(t)->ctx;
    TPM2B_MAX_BUFFER buf;
    TPM2B_DIGEST *out = NULL;
    TPM2B_AUTH noauth = {0};
    ESYS_TR seq = ESYS_TR_NONE;
    tpmiot_rc r = TPMIOT_OK;
    TSS2_RC rc;

    if (len <= sizeof buf.buffer) {
        buf.size = (UINT16)len;
        if (len)
            memcpy(buf.buffer, data, len);
        rc = Esys_HMAC(ctx, ref, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &buf,
                       TPM2_ALG_SHA256, &out);
        if (rc)
            return fail(t, rc);
        goto done;
    }
    rc = Esys_HMAC_Start(ctx, ref, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &noauth,
                         TPM2_ALG_SHA256, &seq);
    if (rc)
        return fail(t, rc);
    /* Keep the last chunk (possibly empty) for SequenceComplete. */
    while (len > sizeof buf.buffer) {
        buf.size = sizeof buf.buffer;
        memcpy(buf.buffer, data, buf.size);
        rc = Esys_SequenceUpdate(ctx, seq, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &buf);
        if (rc) {
            Esys_FlushContext(ctx, seq);
            return fail(t, rc);
        }
        data += buf.size;
        len -= buf.size;
    }
    buf.size = (UINT16)len;
    memcpy(buf.buffer, data, len);
    rc = Esys_SequenceComplete(ctx, seq, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &buf,
                               ESYS_TR_RH_NULL, &out, NULL);
    if (rc) {
        Esys_FlushContext(ctx, seq);
        return fail(t, rc);
    }
done:
    if (out->size != 32)
        r = TPMIOT_E_TPM;
    else
        memcpy(mac, out->buffer, 32);
    Esys_Free(out);
    return r;
}

static tpmiot_rc esys_nv_read(tpmiot_tpm *t, uint32_t index, uint8_t *buf, size_t *len)
{
    ESYS_CONTEXT *ctx = E(t)->ctx;
    TPM2B_NV_PUBLIC *pub = NULL;
    ESYS_TR tr;
    tpmiot_rc r;
    TSS2_RC rc;
    UINT16 size, off = 0;

    if ((r = tr_from(t, index, &tr)))
        return r;
    rc = Esys_NV_ReadPublic(ctx, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
    if (rc) {
        r = fail(t, rc);
        goto out;
    }
    size = pub->nvPublic.dataSize;
    if (!(pub->nvPublic.attributes & TPMA_NV_WRITTEN)) {
        r = TPMIOT_E_SLOT_CORRUPT;
        goto out;
    }
    if (size > *len) {
        r = TPMIOT_E_BUFFER_SMALL;
        goto out;
    }
    while (off < size) {
        TPM2B_MAX_NV_BUFFER *data = NULL;
        UINT16 n = size - off > NV_CHUNK ? NV_CHUNK : size - off;
        rc = Esys_NV_Read(ctx, tr, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n, off, &data);
        if (rc || data->size != n) {
            Esys_Free(data);
            r = rc ? fail(t, rc) : TPMIOT_E_TPM;
            goto out;
        }
        memcpy(buf + off, data->buffer, n);
        Esys_Free(data);
        off += n;
    }
    *len = size;
out:
    Esys_Free(pub);
    tr_close(t, &tr);
    return r;
}

static tpmiot_rc esys_nv_write(tpmiot_tpm *t, uint32_t index, const uint8_t *buf, size_t len)
{
    ESYS_CONTEXT *ctx = E(t)->ctx;
    TPM2B_AUTH noauth = {0};
    /* Readable and writable with the index's own (empty) auth as Limpet and
     * tpm2_nvread expect, and with owner auth; no dictionary-attack lockout. */
    TPM2B_NV_PUBLIC pub = {
        .nvPublic =
            {
                .nvIndex = index,
                .nameAlg = TPM2_ALG_SHA256,
                .attributes = TPMA_NV_OWNERWRITE | TPMA_NV_AUTHWRITE | TPMA_NV_OWNERREAD |
                              TPMA_NV_AUTHREAD | TPMA_NV_NO_DA,
                .dataSize = (UINT16)len,
            },
    };
    ESYS_TR tr = ESYS_TR_NONE;
    tpmiot_rc r;
    TSS2_RC rc;
    size_t off = 0;

    if (len == 0 || len > TPM_NV_MAX)
        return TPMIOT_E_INVALID_ARG;
    if ((r = tpm__mutation(t)))
        return r;
    rc = Esys_NV_DefineSpace(ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                             &noauth, &pub, &tr);
    if (rc)
        return fail(t, rc);
    while (off < len) {
        TPM2B_MAX_NV_BUFFER data;
        data.size = (UINT16)(len - off > NV_CHUNK ? NV_CHUNK : len - off);
        memcpy(data.buffer, buf + off, data.size);
        if ((r = tpm__mutation(t)))
            goto out;
        rc = Esys_NV_Write(ctx, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                           &data, (UINT16)off);
        if (rc) {
            r = fail(t, rc);
            goto out;
        }
        off += data.size;
    }
out:
    tr_close(t, &tr);
    return r;
}

static tpmiot_rc esys_nv_delete(tpmiot_tpm *t, uint32_t index)
{
    ESYS_TR tr;
    tpmiot_rc r;
    TSS2_RC rc;

    if ((r = tr_from(t, index, &tr)))
        return r == TPMIOT_E_SLOT_EMPTY ? TPMIOT_OK : r;
    if ((r = tpm__mutation(t))) {
        tr_close(t, &tr);
        return r;
    }
    rc = Esys_NV_UndefineSpace(E(t)->ctx, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE);
    if (rc) {
        tr_close(t, &tr);
        return fail(t, rc);
    }
    return TPMIOT_OK;
}

static void be32_chars(uint32_t v, char *out)
{
    for (int i = 0; i < 4; i++) {
        char c = (char)(v >> (24 - 8 * i));
        out[i] = (c >= 0x20 && c < 0x7f) ? c : '\0';
    }
}

static tpmiot_rc esys_info(tpmiot_tpm *t, tpmiot_tpm_info *out)
{
    TPMS_CAPABILITY_DATA *cap = NULL;
    TPMI_YES_NO more = 0;
    TSS2_RC rc = Esys_GetCapability(E(t)->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                    TPM2_CAP_TPM_PROPERTIES, TPM2_PT_FIXED, TPM2_MAX_TPM_PROPERTIES,
                                    &more, &cap);
    char v[17] = {0};

    if (rc)
        return fail(t, rc);
    memset(out, 0, sizeof *out);
    for (UINT32 i = 0; i < cap->data.tpmProperties.count; i++) {
        TPMS_TAGGED_PROPERTY *p = &cap->data.tpmProperties.tpmProperty[i];
        switch (p->property) {
        case TPM2_PT_FAMILY_INDICATOR: be32_chars(p->value, out->family); break;
        case TPM2_PT_REVISION: out->revision = p->value; break;
        case TPM2_PT_MANUFACTURER: be32_chars(p->value, out->manufacturer); break;
        case TPM2_PT_VENDOR_STRING_1: be32_chars(p->value, v); break;
        case TPM2_PT_VENDOR_STRING_2: be32_chars(p->value, v + 4); break;
        case TPM2_PT_VENDOR_STRING_3: be32_chars(p->value, v + 8); break;
        case TPM2_PT_VENDOR_STRING_4: be32_chars(p->value, v + 12); break;
        case TPM2_PT_FIRMWARE_VERSION_1: out->firmware1 = p->value; break;
        case TPM2_PT_FIRMWARE_VERSION_2: out->firmware2 = p->value; break;
        default: break;
        }
    }
    Esys_Free(cap);
    /* Vendor strings are padded with NULs or spaces; make one clean string. */
    size_t o = 0;
    for (size_t i = 0; i < 16; i++)
        if (v[i])
            out->vendor[o++] = v[i];
    while (o && out->vendor[o - 1] == ' ')
        out->vendor[--o] = '\0';
    /* libtpms (swtpm) reports vendor "SW TPM"; a swtpm or mssim TCTI is the
     * surer sign, since a simulator's vendor strings can be configured. */
    out->software = (strstr(out->vendor, "SW") && strstr(out->vendor, "TPM")) ||
                    !strncmp(t->tcti, "swtpm", 5) || !strncmp(t->tcti, "mssim", 5);
    return TPMIOT_OK;
}

static void esys_close(tpmiot_tpm *t)
{
    struct esys *e = E(t);

    if (!e)
        return;
    if (e->ctx) {
        tr_close(t, &e->srk);
        Esys_Finalize(&e->ctx);
    }
    if (e->tcti)
        Tss2_TctiLdr_Finalize(&e->tcti);
    free(e);
    t->impl = NULL;
}

const struct tpm__backend tpm__esys_backend = {
    .name = "esys",
    .handles = esys_handles,
    .srk_name = esys_srk_name,
    .key_create = esys_key_create,
    .key_persist = esys_key_persist,
    .key_matches = esys_key_matches,
    .key_evict = esys_key_evict,
    .key_open = esys_key_open,
    .key_close = esys_key_close,
    .hmac = esys_hmac,
    .nv_read = esys_nv_read,
    .nv_write = esys_nv_write,
    .nv_delete = esys_nv_delete,
    .info = esys_info,
    .close = esys_close,
};

/*
 * Without a resource manager (swtpm, mssim, /dev/tpm0) objects and sessions a
 * killed process had loaded stay in the TPM, and after three or so every Load
 * fails with TPM_RC_OBJECT_MEMORY. Such TPMs serve one connection at a time,
 * so whatever is loaded when we connect belongs to no one alive: flush it.
 * Under /dev/tpmrm0 the kernel shows each connection only its own (none).
 */
static void flush_leftovers(ESYS_CONTEXT *ctx)
{
    static const uint32_t ranges[] = {TPM2_TRANSIENT_FIRST, TPM2_LOADED_SESSION_FIRST};
    TSS2_SYS_CONTEXT *sys = NULL;

    /* ESYS makes no ESYS_TR for someone else's session; SAPI flushes any handle. */
    if (Esys_GetSysContext(ctx, &sys) || !sys)
        return;

    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more = 0;
        if (Esys_GetCapability(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
                               ranges[r], TPM2_MAX_CAP_HANDLES, &more, &cap))
            continue;
        for (UINT32 i = 0; i < cap->data.handles.count; i++) {
            uint32_t h = cap->data.handles.handle[i];
            uint32_t type = h >> 24;
            if (type == TPM2_HT_TRANSIENT || type == TPM2_HT_HMAC_SESSION ||
                type == TPM2_HT_POLICY_SESSION)
                Tss2_Sys_FlushContext(sys, h);
        }
        Esys_Free(cap);
    }
}

tpmiot_rc tpm__esys_open(tpmiot_tpm *t, const char *tcti)
{
    struct esys *e = calloc(1, sizeof *e);
    TPMS_CAPABILITY_DATA *cap = NULL;
    TPMI_YES_NO more;
    TSS2_RC rc;

    if (!e)
        return TPMIOT_E_NOMEM;
    e->srk = ESYS_TR_NONE;
    t->be = &tpm__esys_backend;
    t->impl = e;
    rc = Tss2_TctiLdr_Initialize(tcti, &e->tcti);
    if (rc) {
        t->last_tss_rc = rc;
        return TPMIOT_E_TCTI;
    }
    rc = Esys_Initialize(&e->ctx, e->tcti, NULL);
    if (rc) {
        t->last_tss_rc = rc;
        return TPMIOT_E_TCTI;
    }
    /* A bare swtpm or simulator may not have been started up yet. */
    rc = Esys_GetCapability(e->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                            TPM2_CAP_TPM_PROPERTIES, TPM2_PT_MANUFACTURER, 1, &more, &cap);
    Esys_Free(cap);
    if ((rc & 0xFFF) == TPM2_RC_INITIALIZE)
        rc = Esys_Startup(e->ctx, TPM2_SU_CLEAR);
    if (rc) {
        t->last_tss_rc = rc;
        return (rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER ? TPMIOT_E_TCTI : TPMIOT_E_TPM;
    }
    flush_leftovers(e->ctx);
    return TPMIOT_OK;
}
