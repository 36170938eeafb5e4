/*
 * An exec harness for `refcrypto check`, in C on OpenSSL's libcrypto (EVP).
 *
 *   gcc -O2 -Wall -Wextra -o harness harnesses/c/harness.c -lcrypto
 *   refcrypto check -b "exec:./harness" -m aes-256-gcm --quick
 *
 * It speaks protocol 1 of docs/exec-protocol.md: one JSON request per line on standard
 * input, one JSON answer per line on standard output. It is a small, complete Shadowsocks
 * implementation of its own, written from the Shadowsocks specification: EVP_BytesToKey-MD5
 * master keys, HKDF-SHA1 "ss-subkey" session keys (SIP007), SIP004 chunks with a 12-byte
 * little-endian nonce counter, the IV prefix of stream methods, and UDP packets.
 *
 * HARNESS_DEFECT plants a bug, to show that the checks find it:
 *   nonce-endian  the AEAD nonce counter is big-endian (SIP004 says little-endian)
 *   drop-byte     the TCP decoder loses the last byte of every read's plaintext
 *   skip-tag      the AEAD decoders never verify a tag
 *   mask-length   reserved bits of a chunk length are masked off instead of rejected
 */

#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/opensslv.h>

#define PROTOCOL 1
#define MAX_PAYLOAD 0x3FFF
#define TAG_SIZE 16
#define NONCE_SIZE 12
#define MAX_KEY 32
#define MAX_IV 32

enum defect { NONE, NONCE_ENDIAN, DROP_BYTE, SKIP_TAG, MASK_LENGTH };
static enum defect defect = NONE;

/* --- growable byte buffers ------------------------------------------------------------- */

typedef struct {
    unsigned char *data;
    size_t len, cap;
} buf_t;

static void buf_reserve(buf_t *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    unsigned char *data = realloc(b->data, cap);
    if (!data) {
        fputs("harness: out of memory\n", stderr);
        exit(3);
    }
    b->data = data;
    b->cap = cap;
}

static void buf_add(buf_t *b, const void *data, size_t len) {
    buf_reserve(b, len + 1);
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void buf_text(buf_t *b, const char *text) { buf_add(b, text, strlen(text)); }

static void buf_hex(buf_t *b, const unsigned char *data, size_t len) {
    static const char digits[] = "0123456789abcdef";
    buf_reserve(b, 2 * len + 1);
    for (size_t i = 0; i < len; i++) {
        b->data[b->len++] = (unsigned char)digits[data[i] >> 4];
        b->data[b->len++] = (unsigned char)digits[data[i] & 15];
    }
}

static void buf_string(buf_t *b, const char *text) { /* a JSON string */
    buf_add(b, "\"", 1);
    for (const char *p = text; *p; p++) {
        char escaped[8];
        if (*p == '"' || *p == '\\') {
            snprintf(escaped, sizeof escaped, "\\%c", *p);
        } else if ((unsigned char)*p < 0x20) {
            snprintf(escaped, sizeof escaped, "\\u%04x", (unsigned)(unsigned char)*p);
        } else {
            escaped[0] = *p;
            escaped[1] = 0;
        }
        buf_text(b, escaped);
    }
    buf_add(b, "\"", 1);
}

static void buf_free(buf_t *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* --- JSON: just enough to read the requests ---------------------------------------------- */

typedef enum { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT } jtype_t;

typedef struct json {
    jtype_t type;
    bool boolean;
    double number;
    char *string; /* J_STRING; NUL-terminated (requests hold ASCII only) */
    size_t count; /* J_ARRAY, J_OBJECT */
    struct json *items;
    char **keys; /* J_OBJECT */
} json_t;

static void json_free(json_t *j) {
    free(j->string);
    for (size_t i = 0; i < j->count; i++) {
        json_free(&j->items[i]);
        if (j->keys) free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
    memset(j, 0, sizeof *j);
}

static void skip_space(const char **p) {
    while (**p == ' ' || **p == '\t' || **p == '\r' || **p == '\n') (*p)++;
}

static bool parse_value(const char **p, json_t *out, int depth);

static bool parse_string(const char **p, char **out) {
    buf_t b = {0};
    (*p)++; /* the opening quote */
    while (**p != '"') {
        char c = **p;
        if (c == 0 || (unsigned char)c < 0x20) goto bad;
        if (c == '\\') {
            (*p)++;
            switch (**p) {
            case '"': case '\\': case '/': c = **p; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                unsigned code = 0;
                for (int i = 1; i <= 4; i++) {
                    char h = (*p)[i];
                    unsigned v = h >= '0' && h <= '9' ? (unsigned)(h - '0')
                               : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                               : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10) : 16;
                    if (v == 16) goto bad;
                    code = code * 16 + v;
                }
                if (code == 0 || code > 0x7F) goto bad; /* ASCII only */
                c = (char)code;
                *p += 4;
                break;
            }
            default: goto bad;
            }
        }
        buf_add(&b, &c, 1);
        (*p)++;
    }
    (*p)++;
    buf_add(&b, "", 1);
    *out = (char *)b.data;
    return true;
bad:
    buf_free(&b);
    return false;
}

static bool parse_items(const char **p, json_t *out, bool object, int depth) {
    char close = object ? '}' : ']';
    size_t cap = 0;
    (*p)++;
    skip_space(p);
    if (**p == close) {
        (*p)++;
        return true;
    }
    for (;;) {
        if (out->count == cap) {
            cap = cap ? 2 * cap : 8;
            json_t *items = realloc(out->items, cap * sizeof *items);
            if (!items) return false;
            out->items = items;
            if (object) {
                char **keys = realloc(out->keys, cap * sizeof *keys);
                if (!keys) return false;
                out->keys = keys;
            }
        }
        json_t *item = &out->items[out->count];
        memset(item, 0, sizeof *item);
        if (object) {
            skip_space(p);
            out->keys[out->count] = NULL;
            if (**p != '"' || !parse_string(p, &out->keys[out->count])) {
                out->count++; /* so that json_free frees what is there */
                return false;
            }
            skip_space(p);
            if (**p != ':') {
                out->count++;
                return false;
            }
            (*p)++;
        }
        out->count++;
        if (!parse_value(p, item, depth + 1)) return false;
        skip_space(p);
        if (**p == ',') {
            (*p)++;
            continue;
        }
        if (**p != close) return false;
        (*p)++;
        return true;
    }
}

static bool parse_value(const char **p, json_t *out, int depth) {
    if (depth > 8) return false;
    skip_space(p);
    memset(out, 0, sizeof *out);
    switch (**p) {
    case '{': out->type = J_OBJECT; return parse_items(p, out, true, depth);
    case '[': out->type = J_ARRAY; return parse_items(p, out, false, depth);
    case '"': out->type = J_STRING; return parse_string(p, &out->string);
    case 't':
        if (strncmp(*p, "true", 4)) return false;
        *p += 4, out->type = J_BOOL, out->boolean = true;
        return true;
    case 'f':
        if (strncmp(*p, "false", 5)) return false;
        *p += 5, out->type = J_BOOL, out->boolean = false;
        return true;
    case 'n':
        if (strncmp(*p, "null", 4)) return false;
        *p += 4, out->type = J_NULL;
        return true;
    default: {
        char *end;
        out->number = strtod(*p, &end);
        if (end == *p) return false;
        *p = end, out->type = J_NUMBER;
        return true;
    }
    }
}

static const json_t *field(const json_t *object, const char *key) {
    for (size_t i = 0; object->type == J_OBJECT && i < object->count; i++) {
        if (strcmp(object->keys[i], key) == 0) return &object->items[i];
    }
    return NULL;
}

/* --- the methods -------------------------------------------------------------------------- */

enum nonce_layout { PLAIN_IV, CHACHA_IETF, CHACHA_ORIGINAL };

typedef struct {
    const char *name;
    bool aead;
    const EVP_CIPHER *(*cipher)(void);
    int key_size, iv_size; /* iv_size: the salt size for AEAD methods */
    enum nonce_layout layout;
} method_t;

static const method_t METHODS[] = {
    {"aes-128-gcm", true, EVP_aes_128_gcm, 16, 16, PLAIN_IV},
    {"aes-192-gcm", true, EVP_aes_192_gcm, 24, 24, PLAIN_IV},
    {"aes-256-gcm", true, EVP_aes_256_gcm, 32, 32, PLAIN_IV},
    {"chacha20-ietf-poly1305", true, EVP_chacha20_poly1305, 32, 32, PLAIN_IV},
    {"aes-128-cfb", false, EVP_aes_128_cfb128, 16, 16, PLAIN_IV},
    {"aes-192-cfb", false, EVP_aes_192_cfb128, 24, 16, PLAIN_IV},
    {"aes-256-cfb", false, EVP_aes_256_cfb128, 32, 16, PLAIN_IV},
    {"aes-128-cfb8", false, EVP_aes_128_cfb8, 16, 16, PLAIN_IV},
    {"aes-192-cfb8", false, EVP_aes_192_cfb8, 24, 16, PLAIN_IV},
    {"aes-256-cfb8", false, EVP_aes_256_cfb8, 32, 16, PLAIN_IV},
    {"aes-128-cfb1", false, EVP_aes_128_cfb1, 16, 16, PLAIN_IV},
    {"aes-192-cfb1", false, EVP_aes_192_cfb1, 24, 16, PLAIN_IV},
    {"aes-256-cfb1", false, EVP_aes_256_cfb1, 32, 16, PLAIN_IV},
    {"aes-128-ofb", false, EVP_aes_128_ofb, 16, 16, PLAIN_IV},
    {"aes-192-ofb", false, EVP_aes_192_ofb, 24, 16, PLAIN_IV},
    {"aes-256-ofb", false, EVP_aes_256_ofb, 32, 16, PLAIN_IV},
    {"aes-128-ctr", false, EVP_aes_128_ctr, 16, 16, PLAIN_IV},
    {"aes-192-ctr", false, EVP_aes_192_ctr, 24, 16, PLAIN_IV},
    {"aes-256-ctr", false, EVP_aes_256_ctr, 32, 16, PLAIN_IV},
    {"camellia-128-cfb", false, EVP_camellia_128_cfb128, 16, 16, PLAIN_IV},
    {"camellia-192-cfb", false, EVP_camellia_192_cfb128, 24, 16, PLAIN_IV},
    {"camellia-256-cfb", false, EVP_camellia_256_cfb128, 32, 16, PLAIN_IV},
    /* OpenSSL's chacha20 takes 16 bytes: a 32-bit little-endian block counter, then the
       nonce words. IETF: counter 0 and the 12-byte nonce; the original (8-byte nonce, 64-bit
       counter): zero counter words, then the nonce. */
    {"chacha20-ietf", false, EVP_chacha20, 32, 12, CHACHA_IETF},
    {"chacha20", false, EVP_chacha20, 32, 8, CHACHA_ORIGINAL},
};
#define METHOD_COUNT (sizeof METHODS / sizeof METHODS[0])

/* --- errors ------------------------------------------------------------------------------- */

typedef struct {
    const char *name; /* NULL: no error */
    char message[160];
} failure_t;

static bool fail(failure_t *f, const char *name, const char *message) {
    f->name = name;
    snprintf(f->message, sizeof f->message, "%s", message);
    return false;
}

/* --- key derivation ----------------------------------------------------------------------- */

/* EVP_BytesToKey with MD5, one round, no salt: D1 = MD5(pw), Di = MD5(D(i-1) || pw). */
static void master_key(const buf_t *password, int size, unsigned char *key) {
    unsigned char block[16];
    unsigned int block_len = 0;
    int done = 0;
    while (done < size) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        EVP_DigestInit_ex(md, EVP_md5(), NULL);
        if (done) EVP_DigestUpdate(md, block, block_len);
        EVP_DigestUpdate(md, password->data ? password->data : (unsigned char *)"", password->len);
        EVP_DigestFinal_ex(md, block, &block_len);
        EVP_MD_CTX_free(md);
        int take = size - done < (int)block_len ? size - done : (int)block_len;
        memcpy(key + done, block, (size_t)take);
        done += take;
    }
}

/* SIP007: subkey = HKDF-SHA1(master key, salt, "ss-subkey"). */
static bool subkey(const method_t *m, const unsigned char *key, const unsigned char *salt,
                   unsigned char *out) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    size_t len = (size_t)m->key_size;
    bool ok = ctx && EVP_PKEY_derive_init(ctx) > 0 && EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha1()) > 0 &&
              EVP_PKEY_CTX_set1_hkdf_salt(ctx, salt, m->iv_size) > 0 &&
              EVP_PKEY_CTX_set1_hkdf_key(ctx, key, m->key_size) > 0 &&
              EVP_PKEY_CTX_add1_hkdf_info(ctx, (const unsigned char *)"ss-subkey", 9) > 0 &&
              EVP_PKEY_derive(ctx, out, &len) > 0;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* --- AEAD --------------------------------------------------------------------------------- */

static void nonce_of(uint64_t counter, unsigned char *nonce) {
    memset(nonce, 0, NONCE_SIZE);
    for (int i = 0; i < 8; i++, counter >>= 8) {
        nonce[defect == NONCE_ENDIAN ? NONCE_SIZE - 1 - i : i] = (unsigned char)(counter & 0xFF);
    }
}

/* Appends ciphertext || tag to out. */
static bool seal(const method_t *m, const unsigned char *key, uint64_t counter,
                 const unsigned char *in, size_t len, buf_t *out, failure_t *f) {
    unsigned char nonce[NONCE_SIZE];
    int n = 0, last = 0;
    nonce_of(counter, nonce);
    buf_reserve(out, len + TAG_SIZE + 1);
    unsigned char *at = out->data + out->len;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    bool ok = ctx && EVP_EncryptInit_ex(ctx, m->cipher(), NULL, NULL, NULL) > 0 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, NONCE_SIZE, NULL) > 0 &&
              EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) > 0 &&
              (len == 0 || EVP_EncryptUpdate(ctx, at, &n, in, (int)len) > 0) &&
              EVP_EncryptFinal_ex(ctx, at + n, &last) > 0 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_SIZE, at + n + last) > 0;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) return fail(f, "InternalError", "OpenSSL could not seal");
    out->len += (size_t)(n + last) + TAG_SIZE;
    return true;
}

/* Appends the plaintext of ciphertext || tag to out; InvalidTag when it does not verify. */
static bool open_sealed(const method_t *m, const unsigned char *key, uint64_t counter,
                        const unsigned char *in, size_t len, buf_t *out, failure_t *f) {
    unsigned char nonce[NONCE_SIZE], tag[TAG_SIZE];
    int n = 0, last = 0;
    if (len < TAG_SIZE) return fail(f, "TruncatedData", "sealed message shorter than its tag");
    size_t body = len - TAG_SIZE;
    memcpy(tag, in + body, TAG_SIZE);
    nonce_of(counter, nonce);
    buf_reserve(out, body + 1);
    unsigned char *at = out->data + out->len;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    bool ok = ctx && EVP_DecryptInit_ex(ctx, m->cipher(), NULL, NULL, NULL) > 0 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, NONCE_SIZE, NULL) > 0 &&
              EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) > 0 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_SIZE, tag) > 0 &&
              (body == 0 || EVP_DecryptUpdate(ctx, at, &n, in, (int)body) > 0);
    bool verified = ok && EVP_DecryptFinal_ex(ctx, at + n, &last) > 0;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) return fail(f, "InternalError", "OpenSSL could not open");
    if (!verified && defect != SKIP_TAG) {
        char message[96];
        snprintf(message, sizeof message, "tag under nonce %llu does not verify",
                 (unsigned long long)counter);
        return fail(f, "InvalidTag", message);
    }
    out->len += body;
    return true;
}

/* --- stream methods ----------------------------------------------------------------------- */

static EVP_CIPHER_CTX *stream_cipher(const method_t *m, const unsigned char *key,
                                     const unsigned char *iv, int encrypt) {
    unsigned char full[16] = {0};
    const unsigned char *start = iv;
    if (m->layout == CHACHA_IETF) memcpy(full + 4, iv, 12), start = full;
    if (m->layout == CHACHA_ORIGINAL) memcpy(full + 8, iv, 8), start = full;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx && EVP_CipherInit_ex(ctx, m->cipher(), NULL, key, start, encrypt) > 0) return ctx;
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
}

static bool stream_update(EVP_CIPHER_CTX *ctx, const unsigned char *in, size_t len, buf_t *out,
                          failure_t *f) {
    int n = 0;
    if (len == 0) return true;
    buf_reserve(out, len + 16);
    if (EVP_CipherUpdate(ctx, out->data + out->len, &n, in, (int)len) <= 0) {
        return fail(f, "InternalError", "OpenSSL stream update failed");
    }
    out->len += (size_t)n;
    return true;
}

/* --- TCP ---------------------------------------------------------------------------------- */

typedef struct {
    const method_t *m;
    unsigned char key[MAX_KEY], sub[MAX_KEY];
    bool started; /* the salt or IV has been read */
    buf_t pending;
    uint64_t counter;
    size_t need;
    bool reading_length;
    EVP_CIPHER_CTX *stream;
} decoder_t;

static bool decoder_update(decoder_t *d, const unsigned char *data, size_t len, buf_t *released,
                           failure_t *f) {
    const method_t *m = d->m;
    buf_add(&d->pending, data, len);
    size_t used = 0;
    bool ok = true;
    if (!d->started) {
        if (d->pending.len < (size_t)m->iv_size) return true;
        used = (size_t)m->iv_size;
        d->started = true;
        if (m->aead) {
            if (!subkey(m, d->key, d->pending.data, d->sub)) {
                return fail(f, "InternalError", "HKDF failed");
            }
            d->need = 2 + TAG_SIZE;
            d->reading_length = true;
        } else if (!(d->stream = stream_cipher(m, d->key, d->pending.data, 0))) {
            return fail(f, "InternalError", "OpenSSL cipher set-up failed");
        }
    }
    if (!m->aead) {
        ok = stream_update(d->stream, d->pending.data + used, d->pending.len - used, released, f);
        d->pending.len = 0;
        return ok;
    }
    while (ok && d->pending.len - used >= d->need) {
        buf_t plain = {0};
        ok = open_sealed(m, d->sub, d->counter, d->pending.data + used, d->need, &plain, f);
        if (ok) {
            d->counter++;
            used += d->need;
            if (d->reading_length) {
                unsigned length = (unsigned)plain.data[0] << 8 | plain.data[1];
                if (defect == MASK_LENGTH) length &= MAX_PAYLOAD;
                if (length == 0 || length > MAX_PAYLOAD) {
                    char message[64];
                    snprintf(message, sizeof message, "chunk length 0x%04x", length);
                    ok = fail(f, "InvalidChunkLength", message);
                }
                d->need = length + TAG_SIZE;
            } else {
                buf_add(released, plain.data, plain.len);
                d->need = 2 + TAG_SIZE;
            }
            d->reading_length = !d->reading_length;
        }
        buf_free(&plain);
    }
    memmove(d->pending.data, d->pending.data + used, d->pending.len - used);
    d->pending.len -= used;
    return ok;
}

static bool decoder_finish(const decoder_t *d, failure_t *f) {
    /* Complete: nothing at all, or (AEAD) the last thing was a whole payload chunk. */
    bool complete = d->started ? (!d->m->aead || (d->reading_length && d->counter > 0))
                               : d->pending.len == 0;
    if (d->pending.len || !complete) {
        return fail(f, "TruncatedData", "stream ended inside an IV, salt or chunk");
    }
    return true;
}

/* --- requests ----------------------------------------------------------------------------- */

static int nibble(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool hex_field(const json_t *request, const char *name, buf_t *out, failure_t *f) {
    const json_t *value = field(request, name);
    char message[96];
    if (!value || value->type != J_STRING) {
        snprintf(message, sizeof message, "%s must be a hex string", name);
        return fail(f, "BadRequest", message);
    }
    const char *text = value->string;
    size_t len = strlen(text);
    if (len % 2) goto bad;
    buf_reserve(out, len / 2 + 1);
    for (size_t i = 0; i < len; i += 2) {
        int high = nibble(text[i]), low = nibble(text[i + 1]);
        if (high < 0 || low < 0) goto bad;
        out->data[out->len++] = (unsigned char)(high << 4 | low);
    }
    return true;
bad:
    snprintf(message, sizeof message, "%s is not hex", name);
    return fail(f, "BadRequest", message);
}

static const json_t *list_field(const json_t *request, const char *name, failure_t *f) {
    const json_t *value = field(request, name);
    for (size_t i = 0; value && value->type == J_ARRAY && i < value->count; i++) {
        if (value->items[i].type != J_STRING) value = NULL;
    }
    if (!value || value->type != J_ARRAY) {
        char message[64];
        snprintf(message, sizeof message, "%s must be a list of hex strings", name);
        fail(f, "BadRequest", message);
        return NULL;
    }
    return value;
}

/* Item i of the list called list, as bytes. */
static bool item_hex(const json_t *items, const char *list, size_t i, buf_t *out, failure_t *f) {
    char name[48];
    snprintf(name, sizeof name, "%s[%zu]", list, i);
    json_t holder = {.type = J_OBJECT, .count = 1, .items = (json_t *)&items->items[i],
                     .keys = (char *[]){name}};
    return hex_field(&holder, name, out, f);
}

/* The method and the master key of a request. */
static const method_t *method_of(const json_t *request, unsigned char *key, failure_t *f) {
    const json_t *name = field(request, "method");
    const method_t *m = NULL;
    for (size_t i = 0; name && name->type == J_STRING && i < METHOD_COUNT; i++) {
        if (strcmp(METHODS[i].name, name->string) == 0) m = &METHODS[i];
    }
    if (!m) {
        fail(f, "UnsupportedMethod", "the harness does not have this method");
        return NULL;
    }
    buf_t password = {0};
    bool ok = hex_field(request, "password", &password, f);
    if (ok) master_key(&password, m->key_size, key);
    buf_free(&password);
    return ok ? m : NULL;
}

static bool iv_field(const json_t *request, const method_t *m, unsigned char *iv, failure_t *f) {
    buf_t bytes = {0};
    bool ok = hex_field(request, "iv", &bytes, f);
    if (ok && bytes.len != (size_t)m->iv_size) ok = fail(f, "BadRequest", "iv has the wrong size");
    if (ok) memcpy(iv, bytes.data, bytes.len);
    buf_free(&bytes);
    return ok;
}

static bool op_hello(const json_t *request, buf_t *out, failure_t *f) {
    const json_t *protocol = field(request, "protocol");
    if (!protocol || protocol->type != J_NUMBER || protocol->number != PROTOCOL) {
        return fail(f, "BadRequest", "only protocol 1 is spoken");
    }
    static const char *names[] = {"", "nonce-endian", "drop-byte", "skip-tag", "mask-length"};
    char implementation[200];
    snprintf(implementation, sizeof implementation, "C on %s%s%s",
             OpenSSL_version(OPENSSL_VERSION), defect ? ", PLANTED DEFECT " : "", names[defect]);
    buf_text(out, ",\"protocol\":1,\"name\":\"c-openssl\",\"implementation\":");
    buf_string(out, implementation);
    buf_text(out, ",\"methods\":[");
    for (size_t i = 0; i < METHOD_COUNT; i++) {
        if (i) buf_text(out, ",");
        buf_string(out, METHODS[i].name);
    }
    buf_text(out, "]");
    return true;
}

static bool op_tcp_encode(const json_t *request, buf_t *out, failure_t *f) {
    unsigned char key[MAX_KEY], iv[MAX_IV], sub[MAX_KEY];
    const method_t *m = method_of(request, key, f);
    const json_t *writes = m ? list_field(request, "writes", f) : NULL;
    if (!writes || !iv_field(request, m, iv, f)) return false;
    EVP_CIPHER_CTX *stream = NULL;
    if (m->aead ? !subkey(m, key, iv, sub) : !(stream = stream_cipher(m, key, iv, 1))) {
        return fail(f, "InternalError", "cipher set-up failed");
    }
    bool ok = true, prefix = true;
    uint64_t counter = 0;
    buf_text(out, ",\"outputs\":[");
    for (size_t i = 0; ok && i < writes->count; i++) {
        buf_t data = {0}, wire = {0};
        ok = item_hex(writes, "writes", i, &data, f);
        if (ok && data.len && prefix) buf_add(&wire, iv, (size_t)m->iv_size), prefix = false;
        for (size_t start = 0; ok && m->aead && start < data.len; start += MAX_PAYLOAD) {
            size_t size = data.len - start < MAX_PAYLOAD ? data.len - start : MAX_PAYLOAD;
            unsigned char length[2] = {(unsigned char)(size >> 8), (unsigned char)(size & 0xFF)};
            ok = seal(m, sub, counter, length, 2, &wire, f) &&
                 seal(m, sub, counter + 1, data.data + start, size, &wire, f);
            counter += 2;
        }
        if (ok && !m->aead) ok = stream_update(stream, data.data, data.len, &wire, f);
        buf_text(out, i ? ",\"" : "\"");
        buf_hex(out, wire.data, wire.len);
        buf_text(out, "\"");
        buf_free(&data);
        buf_free(&wire);
    }
    buf_text(out, "]");
    EVP_CIPHER_CTX_free(stream);
    return ok;
}

static bool op_tcp_decode(const json_t *request, buf_t *out, failure_t *f) {
    decoder_t d = {0};
    d.m = method_of(request, d.key, f);
    const json_t *reads = d.m ? list_field(request, "reads", f) : NULL;
    if (!reads) return false;
    const json_t *final = field(request, "final");
    bool ok = true;
    size_t at = 0;
    buf_t released = {0};
    buf_text(out, ",\"outputs\":[");
    for (; ok && at <= reads->count; at++) {
        released.len = 0;
        if (at == reads->count) {
            if (final && final->type == J_BOOL && final->boolean) ok = decoder_finish(&d, f);
            if (ok) continue;
            break;
        }
        buf_t data = {0};
        ok = item_hex(reads, "reads", at, &data, f) &&
             decoder_update(&d, data.data, data.len, &released, f);
        buf_free(&data);
        if (!ok) break;
        if (defect == DROP_BYTE && released.len) released.len--;
        buf_text(out, at ? ",\"" : "\"");
        buf_hex(out, released.data, released.len);
        buf_text(out, "\"");
    }
    buf_text(out, "]");
    if (!ok && strcmp(f->name, "BadRequest") && strcmp(f->name, "InternalError")) {
        char where[64];
        snprintf(where, sizeof where, ",\"at\":%zu,\"released\":\"", at);
        buf_text(out, where);
        buf_hex(out, released.data, released.len);
        buf_text(out, "\"");
    }
    buf_free(&released);
    buf_free(&d.pending);
    EVP_CIPHER_CTX_free(d.stream);
    return ok;
}

static bool op_udp_encrypt(const json_t *request, buf_t *out, failure_t *f) {
    unsigned char key[MAX_KEY], iv[MAX_IV], sub[MAX_KEY];
    const method_t *m = method_of(request, key, f);
    buf_t data = {0}, packet = {0};
    bool ok = m && iv_field(request, m, iv, f) && hex_field(request, "data", &data, f);
    if (ok) {
        buf_add(&packet, iv, (size_t)m->iv_size);
        if (m->aead) {
            ok = subkey(m, key, iv, sub) && seal(m, sub, 0, data.data, data.len, &packet, f);
        } else {
            EVP_CIPHER_CTX *stream = stream_cipher(m, key, iv, 1);
            ok = stream && stream_update(stream, data.data, data.len, &packet, f);
            EVP_CIPHER_CTX_free(stream);
        }
        if (!ok && !f->name) fail(f, "InternalError", "cipher set-up failed");
    }
    if (ok) {
        buf_text(out, ",\"packet\":\"");
        buf_hex(out, packet.data, packet.len);
        buf_text(out, "\"");
    }
    buf_free(&data);
    buf_free(&packet);
    return ok;
}

static bool op_udp_decrypt(const json_t *request, buf_t *out, failure_t *f) {
    unsigned char key[MAX_KEY], sub[MAX_KEY];
    const method_t *m = method_of(request, key, f);
    buf_t packet = {0}, data = {0};
    bool ok = m && hex_field(request, "packet", &packet, f);
    size_t minimum = m ? (size_t)m->iv_size + (m->aead ? TAG_SIZE : 0) : 0;
    if (ok && packet.len < minimum) ok = fail(f, "TruncatedData", "packet shorter than IV/salt and tag");
    if (ok && m->aead) {
        ok = subkey(m, key, packet.data, sub) &&
             open_sealed(m, sub, 0, packet.data + m->iv_size, packet.len - (size_t)m->iv_size, &data, f);
    } else if (ok) {
        EVP_CIPHER_CTX *stream = stream_cipher(m, key, packet.data, 0);
        ok = stream && stream_update(stream, packet.data + m->iv_size,
                                     packet.len - (size_t)m->iv_size, &data, f);
        EVP_CIPHER_CTX_free(stream);
    }
    if (!ok && !f->name) fail(f, "InternalError", "cipher set-up failed");
    if (ok) {
        buf_text(out, ",\"data\":\"");
        buf_hex(out, data.data, data.len);
        buf_text(out, "\"");
    }
    buf_free(&packet);
    buf_free(&data);
    return ok;
}

static const struct {
    const char *op;
    bool (*run)(const json_t *, buf_t *, failure_t *);
} OPS[] = {
    {"hello", op_hello},           {"tcp-encode", op_tcp_encode},   {"tcp-decode", op_tcp_decode},
    {"udp-encrypt", op_udp_encrypt}, {"udp-decrypt", op_udp_decrypt},
};

static void answer(const char *line, buf_t *out) {
    json_t request = {0};
    failure_t f = {0};
    const char *p = line;
    char id[32] = "null";
    buf_t body = {0};
    bool ok = parse_value(&p, &request, 0) && request.type == J_OBJECT;
    if (!ok) {
        fail(&f, "BadRequest", "not a JSON object");
    } else {
        const json_t *value = field(&request, "id");
        if (value && value->type == J_NUMBER) snprintf(id, sizeof id, "%.0f", value->number);
        const json_t *op = field(&request, "op");
        ok = false;
        fail(&f, "BadRequest", "unknown op");
        for (size_t i = 0; op && op->type == J_STRING && i < sizeof OPS / sizeof OPS[0]; i++) {
            if (strcmp(OPS[i].op, op->string) == 0) {
                f.name = NULL;
                ok = OPS[i].run(&request, &body, &f);
            }
        }
    }
    out->len = 0;
    buf_text(out, "{\"id\":");
    buf_text(out, id);
    buf_text(out, ok ? ",\"ok\":true" : ",\"ok\":false,\"error\":");
    if (!ok) {
        buf_string(out, f.name);
        buf_text(out, ",\"message\":");
        buf_string(out, f.message);
        /* tcp-decode's outputs, at and released go with its rejections only */
        if (strcmp(f.name, "BadRequest") && strcmp(f.name, "InternalError") &&
            strcmp(f.name, "UnsupportedMethod")) buf_add(out, body.data, body.len);
    } else {
        buf_add(out, body.data, body.len);
    }
    buf_text(out, "}\n");
    buf_free(&body);
    json_free(&request);
}

int main(void) {
    static const char *names[] = {"", "nonce-endian", "drop-byte", "skip-tag", "mask-length"};
    const char *wanted = getenv("HARNESS_DEFECT");
    if (wanted && *wanted) {
        for (int i = 1; i < 5; i++) {
            if (strcmp(wanted, names[i]) == 0) defect = (enum defect)i;
        }
        if (defect == NONE) {
            fprintf(stderr, "HARNESS_DEFECT must be one of nonce-endian, drop-byte, skip-tag, "
                            "mask-length, not %s\n", wanted);
            return 2;
        }
    }
    char *line = NULL;
    size_t size = 0;
    buf_t out = {0};
    while (getline(&line, &size, stdin) != -1) {
        if (strspn(line, " \t\r\n") == strlen(line)) continue;
        answer(line, &out);
        fwrite(out.data, 1, out.len, stdout);
        fflush(stdout);
    }
    free(line);
    buf_free(&out);
    return 0;
}
