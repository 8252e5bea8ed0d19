/*
 * Copyright (c) 2013 Damien Miller <djm@mindrot.org>
 *
 * Adapted by Will Cosgrove <will@panic.com> for libssh2
 *
 * Permission to use, copy, modify, and distribute this software for any
 * purpose with or without fee is hereby granted, provided that the above
 * copyright notice and this permission notice appear in all copies.
 *
 * THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
 * WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
 * MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
 * ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
 * WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
 * ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
 * OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
 *
 * SPDX-License-Identifier: BSD-2-Clause
 */

/* $OpenBSD: cipher-chachapoly.c,v 1.8 2016/08/03 05:41:57 djm Exp $ */

#include "libssh2_priv.h"
#include "cipher-chachapoly.h"

static int chachapoly_timingsafe_bcmp(const void *b1, const void *b2, size_t n)
{
    const unsigned char *p1 = b1, *p2 = b2;
    int ret = 0;

    for(; n > 0; n--)
        ret |= *p1++ ^ *p2++;
    return ret != 0;
}

#ifdef LIBSSH2_CHACHAPOLY_LIBCRYPTO

/* crimpl patch: the libcrypto versions of chachapoly_crypt and
   chachapoly_get_length, after OpenSSH's cipher-chachapoly-libcrypto.c.
   EVP_chacha20's 16-byte IV is the 64-bit block counter then the 64-bit
   nonce, as in the original ChaCha that SSH uses (a packet never reaches
   2^32 blocks). */

static void chachapoly_libcrypto_free(struct chachapoly_ctx *ctx)
{
    EVP_CIPHER_CTX_free(ctx->main_evp);
    EVP_CIPHER_CTX_free(ctx->header_evp);
    EVP_MAC_CTX_free(ctx->poly);
    ctx->main_evp = ctx->header_evp = NULL;
    ctx->poly = NULL;
}

/* Set up the libcrypto contexts, or leave them all NULL. */
static void chachapoly_libcrypto_init(struct chachapoly_ctx *ctx,
                                      const unsigned char *key)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);

    ctx->main_evp = EVP_CIPHER_CTX_new();
    ctx->header_evp = EVP_CIPHER_CTX_new();
    ctx->poly = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac);
    if(!ctx->main_evp || !ctx->header_evp || !ctx->poly ||
       !EVP_CipherInit(ctx->main_evp, EVP_chacha20(), key, NULL, 1) ||
       !EVP_CipherInit(ctx->header_evp, EVP_chacha20(), key + 32, NULL, 1))
        chachapoly_libcrypto_free(ctx);
}

/* XOR `len` bytes of `evp`'s keystream from block `counter` of nonce
   `seqbuf` (bytes 8 to 15) over `src` into `dest`. */
static int chachapoly_xor(EVP_CIPHER_CTX *evp, unsigned char seqbuf[16],
                          unsigned char counter, unsigned char *dest,
                          const unsigned char *src, size_t len)
{
    int outl;

    seqbuf[0] = counter;
    return len <= INT_MAX &&
        EVP_CipherInit(evp, NULL, NULL, seqbuf, 1) &&
        EVP_CipherUpdate(evp, dest, &outl, src, (int)len) &&
        (size_t)outl == len;
}

static int chachapoly_poly1305(EVP_MAC_CTX *poly,
                               unsigned char tag[POLY1305_TAGLEN],
                               const unsigned char *m, size_t len,
                               const unsigned char key[POLY1305_KEYLEN])
{
    size_t outl;

    return EVP_MAC_init(poly, key, POLY1305_KEYLEN, NULL) &&
        EVP_MAC_update(poly, m, len) &&
        EVP_MAC_final(poly, tag, &outl, POLY1305_TAGLEN) &&
        outl == POLY1305_TAGLEN;
}

static int chachapoly_libcrypto_crypt(struct chachapoly_ctx *ctx,
                                      libssh2_uint64_t seqnr,
                                      unsigned char *dest,
                                      const unsigned char *src, size_t len,
                                      size_t aadlen, int do_encrypt)
{
    unsigned char seqbuf[16];
    unsigned char expected_tag[POLY1305_TAGLEN], poly_key[POLY1305_KEYLEN];
    int r = LIBSSH2_ERROR_DECRYPT;  /* fail */
    unsigned char *ptr = &seqbuf[8];

    memset(seqbuf, 0, 8);
    ssh2_store_u64(&ptr, seqnr);

    /* Run ChaCha20 once to generate the Poly1305 key. */
    memset(poly_key, 0, sizeof(poly_key));
    if(!chachapoly_xor(ctx->main_evp, seqbuf, 0, poly_key, poly_key,
                       sizeof(poly_key)))
        goto out;

    /* If decrypting, check tag before anything else */
    if(!do_encrypt) {
        const unsigned char *tag = src + aadlen + len;

        if(!chachapoly_poly1305(ctx->poly, expected_tag, src, aadlen + len,
                                poly_key) ||
           chachapoly_timingsafe_bcmp(expected_tag, tag, POLY1305_TAGLEN))
            goto out;
    }

    /* Crypt additional data */
    if(aadlen &&
       !chachapoly_xor(ctx->header_evp, seqbuf, 0, dest, src, aadlen))
        goto out;

    /* The payload starts at block 1 */
    if(!chachapoly_xor(ctx->main_evp, seqbuf, 1, dest + aadlen, src + aadlen,
                       len))
        goto out;

    /* If encrypting, calculate and append tag */
    if(do_encrypt &&
       !chachapoly_poly1305(ctx->poly, dest + aadlen + len, dest,
                            aadlen + len, poly_key))
        goto out;

    r = LIBSSH2_ERROR_NONE;
out:
    ssh2_explicit_zero(expected_tag, sizeof(expected_tag));
    ssh2_explicit_zero(seqbuf, sizeof(seqbuf));
    ssh2_explicit_zero(poly_key, sizeof(poly_key));
    return r;
}

static int chachapoly_libcrypto_get_length(struct chachapoly_ctx *ctx,
                                           unsigned int *plenp,
                                           libssh2_uint64_t seqnr,
                                           const unsigned char *cp)
{
    unsigned char buf[4], seqbuf[16];
    unsigned char *ptr = &seqbuf[8];

    memset(seqbuf, 0, 8);
    ssh2_store_u64(&ptr, seqnr);
    if(!chachapoly_xor(ctx->header_evp, seqbuf, 0, buf, cp, 4))
        return -1;  /* fail */
    *plenp = ssh2_ntohu32(buf);
    return 0;  /* success */
}

#endif /* LIBSSH2_CHACHAPOLY_LIBCRYPTO */

int chachapoly_init(struct chachapoly_ctx *ctx, const unsigned char *key,
                    size_t keylen)
{
    if(keylen != (32 + 32)) /* 2 x 256-bit keys */
        return LIBSSH2_ERROR_INVAL;
    chacha_keysetup(&ctx->main_ctx, key, 256);
    chacha_keysetup(&ctx->header_ctx, key + 32, 256);
#ifdef LIBSSH2_CHACHAPOLY_LIBCRYPTO
    chachapoly_libcrypto_init(ctx, key);
#endif
    return 0;
}

void chachapoly_free(struct chachapoly_ctx *ctx)
{
#ifdef LIBSSH2_CHACHAPOLY_LIBCRYPTO
    chachapoly_libcrypto_free(ctx);
#endif
    ssh2_explicit_zero(ctx, sizeof(*ctx));
}

/*
 * chachapoly_crypt() operates as following:
 * En/decrypt with header key 'aadlen' bytes from 'src', storing result
 * to 'dest'. The ciphertext here is treated as additional authenticated
 * data for MAC calculation.
 * En/decrypt 'len' bytes at offset 'aadlen' from 'src' to 'dest'. Use
 * POLY1305_TAGLEN bytes at offset 'len'+'aadlen' as the authentication
 * tag. This tag is written on encryption and verified on decryption.
 */
int chachapoly_crypt(struct chachapoly_ctx *ctx, libssh2_uint64_t seqnr,
                     unsigned char *dest, const unsigned char *src, size_t len,
                     size_t aadlen, int do_encrypt)
{
    static const unsigned char one[8] = {
        1, 0, 0, 0, 0, 0, 0, 0  /* NB little-endian */
    };
    unsigned char seqbuf[8];
    unsigned char expected_tag[POLY1305_TAGLEN], poly_key[POLY1305_KEYLEN];
    int r = LIBSSH2_ERROR_DECRYPT;  /* fail */
    unsigned char *ptr = NULL;

#ifdef LIBSSH2_CHACHAPOLY_LIBCRYPTO
    if(ctx->main_evp)
        return chachapoly_libcrypto_crypt(ctx, seqnr, dest, src, len, aadlen,
                                          do_encrypt);
#endif

    /*
     * Run ChaCha20 once to generate the Poly1305 key. The IV is the
     * packet sequence number.
     */
    memset(poly_key, 0, sizeof(poly_key));
    ptr = &seqbuf[0];
    ssh2_store_u64(&ptr, seqnr);
    chacha_ivsetup(&ctx->main_ctx, seqbuf, NULL);
    chacha_encrypt_bytes(&ctx->main_ctx, poly_key, poly_key, sizeof(poly_key));

    /* If decrypting, check tag before anything else */
    if(!do_encrypt) {
        const unsigned char *tag = src + aadlen + len;

        poly1305_auth(expected_tag, src, aadlen + len, poly_key);
        if(chachapoly_timingsafe_bcmp(expected_tag, tag, POLY1305_TAGLEN))
            goto out;
    }

    /* Crypt additional data */
    if(aadlen) {
        chacha_ivsetup(&ctx->header_ctx, seqbuf, NULL);
        chacha_encrypt_bytes(&ctx->header_ctx, src, dest, aadlen);
    }

    /* Set Chacha's block counter to 1 */
    chacha_ivsetup(&ctx->main_ctx, seqbuf, one);
    chacha_encrypt_bytes(&ctx->main_ctx, src + aadlen, dest + aadlen, len);

    /* If encrypting, calculate and append tag */
    if(do_encrypt)
        poly1305_auth(dest + aadlen + len, dest, aadlen + len, poly_key);

    r = LIBSSH2_ERROR_NONE;
out:
    ssh2_explicit_zero(expected_tag, sizeof(expected_tag));
    ssh2_explicit_zero(seqbuf, sizeof(seqbuf));
    ssh2_explicit_zero(poly_key, sizeof(poly_key));
    return r;
}

/* Decrypt and extract the encrypted packet length */
int chachapoly_get_length(struct chachapoly_ctx *ctx, unsigned int *plenp,
                          libssh2_uint64_t seqnr, const unsigned char *cp,
                          size_t len)
{
    unsigned char buf[4], seqbuf[8];
    unsigned char *ptr = NULL;

    if(len < 4)
        return -1;  /* fail */
#ifdef LIBSSH2_CHACHAPOLY_LIBCRYPTO
    if(ctx->main_evp)
        return chachapoly_libcrypto_get_length(ctx, plenp, seqnr, cp);
#endif
    ptr = &seqbuf[0];
    ssh2_store_u64(&ptr, seqnr);
    chacha_ivsetup(&ctx->header_ctx, seqbuf, NULL);
    chacha_encrypt_bytes(&ctx->header_ctx, cp, buf, 4);
    *plenp = ssh2_ntohu32(buf);
    return 0;  /* success */
}
