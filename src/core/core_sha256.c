/* SHA-256 (FIPS 180-4), used to identify model weights and input images in provenance. Every
 * job's image and every model load is hashed, so the compression function has two versions: the
 * portable one and, on x86-64 CPUs with the SHA extensions, one on the SHA-NI instructions
 * (about ten times faster), chosen once at run time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define OTF_SHA_NI 1
#endif

#include "core/core.h"

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void compress_one(uint32_t h_[8], const uint8_t *blk)
{
    uint32_t w[64], a, b, c, d, e, f, g, h;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 |
               (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h_[0], b = h_[1], c = h_[2], d = h_[3];
    e = h_[4], f = h_[5], g = h_[6], h = h_[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h_[0] += a, h_[1] += b, h_[2] += c, h_[3] += d;
    h_[4] += e, h_[5] += f, h_[6] += g, h_[7] += h;
}

static void compress_portable(uint32_t h[8], const uint8_t *blk, size_t n_blocks)
{
    for (; n_blocks > 0; n_blocks--, blk += 64)
        compress_one(h, blk);
}

#ifdef OTF_SHA_NI
/* The state lives in two registers, (A, B, E, F) and (C, D, G, H); each sha256rnds2 does two
 * rounds, and the message schedule keeps the last four groups of four words in a ring. */
__attribute__((target("sha,sse4.1,ssse3"))) static void
compress_shani(uint32_t h[8], const uint8_t *blk, size_t n_blocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i dcba = _mm_loadu_si128((const __m128i *)&h[0]);
    __m128i hgfe = _mm_loadu_si128((const __m128i *)&h[4]);
    __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);

    for (; n_blocks > 0; n_blocks--, blk += 64) {
        const __m128i abef0 = abef, cdgh0 = cdgh;
        __m128i w[4];
        for (int g = 0; g < 16; g++) {
            __m128i m;
            if (g < 4) {
                w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blk + 16 * g)), bswap);
            } else {
                /* W[t..t+3] from W[t-16..t-13] (ring slot g&3), W[t-12..t-9], W[t-7..t-4]
                 * and W[t-4..t-1] */
                __m128i x = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
                x = _mm_add_epi32(x, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
                w[g & 3] = _mm_sha256msg2_epu32(x, w[(g + 3) & 3]);
            }
            m = _mm_add_epi32(w[g & 3], _mm_loadu_si128((const __m128i *)&K[4 * g]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, m);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(m, 0x0E));
        }
        abef = _mm_add_epi32(abef, abef0);
        cdgh = _mm_add_epi32(cdgh, cdgh0);
    }
    {
        __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
        __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
        _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(feba, dchg, 0xF0));
        _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(dchg, feba, 8));
    }
}

static int cpu_has_sha_ni(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3))
        return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    return (b & bit_SHA) != 0;
}
#endif

typedef void (*compress_fn)(uint32_t h[8], const uint8_t *blk, size_t n_blocks);

/* OTF_SHA256_PORTABLE=1 forces the portable code (tests compare both). */
static compress_fn pick_compress(void)
{
#ifdef OTF_SHA_NI
    const char *env = getenv("OTF_SHA256_PORTABLE");
    if (!(env && env[0] == '1') && cpu_has_sha_ni())
        return compress_shani;
#endif
    return compress_portable;
}

/* The choice is made once; every hash and otf_sha256_impl() read it from here. */
static compress_fn chosen_compress(void)
{
    static _Atomic(compress_fn) fn;
    compress_fn f = fn;
    if (!f) {
        f = pick_compress();
        fn = f;
    }
    return f;
}

static void compress_blocks(struct otf_sha256 *s, const uint8_t *blk, size_t n_blocks)
{
    chosen_compress()(s->h, blk, n_blocks);
}

const char *otf_sha256_impl(void)
{
    return chosen_compress() == compress_portable ? "portable" : "sha-ni";
}

void otf_sha256_init(struct otf_sha256 *s)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->n_bytes = 0;
    s->used = 0;
}

void otf_sha256_update(struct otf_sha256 *s, const void *p, size_t n)
{
    const uint8_t *b = p;
    s->n_bytes += n;
    if (s->used) {
        size_t k = 64 - s->used < n ? 64 - s->used : n;
        memcpy(s->block + s->used, b, k);
        s->used += k;
        b += k;
        n -= k;
        if (s->used < 64)
            return;
        compress_blocks(s, s->block, 1);
        s->used = 0;
    }
    if (n >= 64) {
        compress_blocks(s, b, n / 64);
        b += n / 64 * 64;
        n %= 64;
    }
    memcpy(s->block, b, n);
    s->used = n;
}

void otf_sha256_final(struct otf_sha256 *s, uint8_t digest[32])
{
    uint64_t bits = s->n_bytes * 8;
    s->block[s->used++] = 0x80;
    if (s->used > 56) {
        memset(s->block + s->used, 0, 64 - s->used);
        compress_blocks(s, s->block, 1);
        s->used = 0;
    }
    memset(s->block + s->used, 0, 56 - s->used);
    for (int i = 0; i < 8; i++)
        s->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    compress_blocks(s, s->block, 1);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(s->h[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        digest[4 * i + 3] = (uint8_t)s->h[i];
    }
}

void otf_sha256_hex(const uint8_t digest[32], char hex[65])
{
    static const char *x = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = x[digest[i] >> 4];
        hex[2 * i + 1] = x[digest[i] & 15];
    }
    hex[64] = '\0';
}

enum otf_status otf_sha256_file(const char *path, char hex[65], struct otf_errbuf *eb)
{
    struct otf_sha256 s;
    uint8_t buf[1 << 16], dg[32];
    size_t n;
    FILE *f = fopen(path, "rb");

    if (!f)
        return OTF_FAIL(eb, errno == ENOENT ? OTF_E_NOTFOUND : OTF_E_IO, "open %s: %s", path,
                        strerror(errno));
    otf_sha256_init(&s);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        otf_sha256_update(&s, buf, n);
    if (ferror(f)) {
        fclose(f);
        return OTF_FAIL(eb, OTF_E_IO, "read %s failed", path);
    }
    fclose(f);
    otf_sha256_final(&s, dg);
    otf_sha256_hex(dg, hex);
    return OTF_OK;
}
