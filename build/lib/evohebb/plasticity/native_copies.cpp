// The max (or min) over a kernel entry's copies of a product term, read straight from the conv's input:
//
//     out[p, c, k] = extreme over (oy, ox) of  x[p*sx + off[k] + oy*rs + ox] * v[p, c, oy*Wo + ox]
//
// x: the input of one individual at x + p*sx (contiguous along ox); off[k]: where kernel entry k's first copy
// reads (for an unfolded [P, K, L] tensor: off[k] = k*L, Ho = 1, Wo = L); v [P, C, Ho*Wo] contiguous;
// out [P, C, K]. Built by native_copies.py with the machine's own vector width; the products are rounded as
// torch rounds them (no fused operations) and a max/min is exact, so the values equal torch's. A NaN product
// is skipped (torch's amax/amin would return NaN).
//
// Register blocking: 4 kernel entries x 2 output channels share their loads, 8 independent accumulators of 8
// lanes. A row's last partial vector overlaps the previous one (a max/min may see a copy twice).
#include <cstdint>

typedef float vf __attribute__((vector_size(32)));
static constexpr int W8 = 8;

template <bool MAX> static inline vf pick(vf a, vf b) { return MAX ? (b > a ? b : a) : (b < a ? b : a); }
template <bool MAX> static inline float pick1(float a, float b) { return MAX ? (b > a ? b : a) : (b < a ? b : a); }

static inline vf load(const float* p) { vf r; __builtin_memcpy(&r, p, sizeof(vf)); return r; }

struct Geometry { int64_t K, C, Ho, Wo, rs; const int64_t* off; };

template <bool MAX, int KB, int CB>
static void block(const float* x, const float* v, float* out, const Geometry& g, int64_t k0, int64_t c0) {
    const float init = MAX ? -__builtin_inff() : __builtin_inff();
    const int64_t L = g.Ho * g.Wo;
    float r[KB][CB];
    for (int i = 0; i < KB; ++i) for (int j = 0; j < CB; ++j) r[i][j] = init;
    if (g.Wo >= W8) {
        vf acc[KB][CB];
        for (int i = 0; i < KB; ++i) for (int j = 0; j < CB; ++j) acc[i][j] = vf{} + init;
        for (int64_t oy = 0; oy < g.Ho; ++oy) {
            const float* xrow = x + oy * g.rs;
            const float* vrow = v + oy * g.Wo;
            for (int64_t ox = 0;; ox += W8) {
                if (ox + W8 > g.Wo) ox = g.Wo - W8;          // the row's tail: overlap the previous vector
                vf vv[CB];
                for (int j = 0; j < CB; ++j) vv[j] = load(vrow + (c0 + j) * L + ox);
                for (int i = 0; i < KB; ++i) {
                    const vf uu = load(xrow + g.off[k0 + i] + ox);
                    for (int j = 0; j < CB; ++j) acc[i][j] = pick<MAX>(acc[i][j], uu * vv[j]);
                }
                if (ox + W8 >= g.Wo) break;
            }
        }
        for (int i = 0; i < KB; ++i) for (int j = 0; j < CB; ++j)
            for (int e = 0; e < W8; ++e) r[i][j] = pick1<MAX>(r[i][j], acc[i][j][e]);
    } else {
        for (int64_t oy = 0; oy < g.Ho; ++oy)
            for (int64_t ox = 0; ox < g.Wo; ++ox)
                for (int i = 0; i < KB; ++i) for (int j = 0; j < CB; ++j)
                    r[i][j] = pick1<MAX>(r[i][j], x[g.off[k0 + i] + oy * g.rs + ox] * v[(c0 + j) * L + oy * g.Wo + ox]);
    }
    for (int i = 0; i < KB; ++i) for (int j = 0; j < CB; ++j) out[(c0 + j) * g.K + k0 + i] = r[i][j];
}

template <bool MAX, int KB>
static void channel_blocks(const float* x, const float* v, float* out, const Geometry& g, int64_t k0) {
    int64_t c = 0;
    for (; c + 2 <= g.C; c += 2) block<MAX, KB, 2>(x, v, out, g, k0, c);
    if (c < g.C) block<MAX, KB, 1>(x, v, out, g, k0, c);
}

template <bool MAX>
static void run(const float* x, const float* v, float* out, int64_t P, int64_t sx, const Geometry& g) {
    const int64_t L = g.Ho * g.Wo;
    for (int64_t p = 0; p < P; ++p) {
        const float* xp = x + p * sx;
        const float* vp = v + p * g.C * L;
        float* op = out + p * g.C * g.K;
        int64_t k = 0;
        for (; k + 4 <= g.K; k += 4) channel_blocks<MAX, 4>(xp, vp, op, g, k);
        for (; k < g.K; ++k) channel_blocks<MAX, 1>(xp, vp, op, g, k);
    }
}

extern "C" void copies_product_extreme(const float* x, const int64_t* off, const float* v, float* out, int64_t P,
                                       int64_t sx, int64_t K, int64_t C, int64_t Ho, int64_t Wo, int64_t rs,
                                       int is_max) {
    const Geometry g{K, C, Ho, Wo, rs, off};
    if (is_max) run<true>(x, v, out, P, sx, g); else run<false>(x, v, out, P, sx, g);
}
