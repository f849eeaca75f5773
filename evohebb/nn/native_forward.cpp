// A population's convs (one weight tensor per individual) as one direct loop, optionally followed by tanh:
//
//     out[p, c, oy, ox] = act( sum over k of  w[p, c, k] * x[p*sx + off[k] + oy*rs + ox] )
//
// x: the input of one individual at x + p*sx, laid out so that every kernel entry k = (ci, ky, kx) reads a
// contiguous run along ox (the input itself at stride 1; its s*s phase grids at stride s, see native_forward.py);
// off[k]: where entry k's copy at (0, 0) reads; w [P, C, K]; out [P, C, Ho, Wo] contiguous. Built by
// native_forward.py with the machine's own vector width.
//
// Register blocking: 4 output channels x 16 output positions (two vectors) per accumulator set: every input
// vector is loaded once per block and used for the 4 channels, every weight broadcast once for the two vectors. A row's last partial vector overlaps the previous one (those outputs
// are computed twice and stored twice, with the same value).
//
// tanh(z) = sign(z) (1 - 2 / (exp(2|z|) + 1)), exp by range reduction (2^n exactly, a degree-6 polynomial on
// |r| <= ln2/2, the classic single-precision minimax coefficients): within a few 1e-7 of torch.tanh.
#include <cstdint>

typedef float vf __attribute__((vector_size(32)));
typedef int32_t vi __attribute__((vector_size(32)));
static constexpr int W8 = 8;

static inline vf load(const float* p) { vf r; __builtin_memcpy(&r, p, sizeof(vf)); return r; }
static inline void store(float* p, vf v) { __builtin_memcpy(p, &v, sizeof(vf)); }

static inline vf vexp_nonneg(vf t) {            // exp(t) for 0 <= t (t clamped at 88: exp overflows beyond)
    t = t < 88.0f ? t : vf{} + 88.0f;
    const vf fn = __builtin_convertvector(__builtin_convertvector(t * 1.44269504088896341f + 0.5f, vi), vf);
    vf r = t - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    vf p = vf{} + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const vi bits = (__builtin_convertvector(fn, vi) + 127) << 23;
    vf scale;
    __builtin_memcpy(&scale, &bits, sizeof(vf));
    return p * scale;
}

static inline vf vtanh(vf z) {
    const vf a = z < 0.0f ? -z : z;
    const vf m = 1.0f - 2.0f / (vexp_nonneg(a + a) + 1.0f);
    const vf r = z < 0.0f ? -m : m;
    return z != z ? z : r;                      // NaN stays NaN
}

static inline float tanh1(float z) {
    vf v = vf{} + z;
    return vtanh(v)[0];
}

struct Geometry { int64_t K, C, Ho, Wo, rs; const int64_t* off; };

template <int CB, int NV, bool TANH>
static void row(const float* xrow, const float* w, float* orow, const Geometry& g, int64_t c0) {
    const int64_t L = g.Ho * g.Wo, span = NV * W8;
    for (int64_t ox = 0;; ox += span) {
        if (ox + span > g.Wo) ox = g.Wo - span;             // the row's tail: overlap the previous block
        vf acc[NV][CB];
        for (int v = 0; v < NV; ++v) for (int j = 0; j < CB; ++j) acc[v][j] = vf{};
        for (int64_t k = 0; k < g.K; ++k) {
            vf xv[NV];
            for (int v = 0; v < NV; ++v) xv[v] = load(xrow + g.off[k] + ox + v * W8);
            for (int j = 0; j < CB; ++j) {
                const float wk = w[(c0 + j) * g.K + k];
                for (int v = 0; v < NV; ++v) acc[v][j] += wk * xv[v];
            }
        }
        for (int j = 0; j < CB; ++j) for (int v = 0; v < NV; ++v)
            store(orow + (c0 + j) * L + ox + v * W8, TANH ? vtanh(acc[v][j]) : acc[v][j]);
        if (ox + span >= g.Wo) break;
    }
}

template <int CB, bool TANH>
static void block(const float* x, const float* w, float* out, const Geometry& g, int64_t c0) {
    const int64_t L = g.Ho * g.Wo;
    for (int64_t oy = 0; oy < g.Ho; ++oy) {
        const float* xrow = x + oy * g.rs;
        float* orow = out + oy * g.Wo;
        if (g.Wo >= 2 * W8) {
            row<CB, 2, TANH>(xrow, w, orow, g, c0);
        } else if (g.Wo >= W8) {
            row<CB, 1, TANH>(xrow, w, orow, g, c0);
        } else {
            for (int64_t ox = 0; ox < g.Wo; ++ox)
                for (int j = 0; j < CB; ++j) {
                    float s = 0.0f;
                    for (int64_t k = 0; k < g.K; ++k) s += w[(c0 + j) * g.K + k] * xrow[g.off[k] + ox];
                    orow[(c0 + j) * L + ox] = TANH ? tanh1(s) : s;
                }
        }
    }
}

template <bool TANH>
static void run(const float* x, const float* w, float* out, int64_t P, int64_t sx, const Geometry& g) {
    const int64_t L = g.Ho * g.Wo;
    for (int64_t p = 0; p < P; ++p) {
        const float* xp = x + p * sx;
        const float* wp = w + p * g.C * g.K;
        float* op = out + p * g.C * L;
        int64_t c = 0;
        for (; c + 4 <= g.C; c += 4) block<4, TANH>(xp, wp, op, g, c);
        for (; c + 2 <= g.C; c += 2) block<2, TANH>(xp, wp, op, g, c);
        if (c < g.C) block<1, TANH>(xp, wp, op, g, c);
    }
}

extern "C" void population_conv(const float* x, const int64_t* off, const float* w, float* out, int64_t P,
                                int64_t sx, int64_t K, int64_t C, int64_t Ho, int64_t Wo, int64_t rs, int apply_tanh) {
    const Geometry g{K, C, Ho, Wo, rs, off};
    if (apply_tanh) run<true>(x, w, out, P, sx, g); else run<false>(x, w, out, P, sx, g);
}

// A population's linear layers: out[p, j] = sum over i of w[p, j, i] * x[p, i] (w [P, n_out, n_in], x [P, n_in]
// contiguous). Each row is one dot product over contiguous memory (four vector accumulators), so the weights are
// read once, in order: the layer is memory-bound, and a batched matrix product of row vectors reads them slower.
extern "C" void population_linear(const float* w, const float* x, float* out, int64_t P, int64_t n_out,
                                  int64_t n_in) {
    for (int64_t p = 0; p < P; ++p) {
        const float* xp = x + p * n_in;
        for (int64_t j = 0; j < n_out; ++j) {
            const float* row = w + (p * n_out + j) * n_in;
            vf a0 = vf{}, a1 = vf{}, a2 = vf{}, a3 = vf{};
            int64_t i = 0;
            for (; i + 4 * W8 <= n_in; i += 4 * W8) {
                a0 += load(row + i) * load(xp + i);
                a1 += load(row + i + W8) * load(xp + i + W8);
                a2 += load(row + i + 2 * W8) * load(xp + i + 2 * W8);
                a3 += load(row + i + 3 * W8) * load(xp + i + 3 * W8);
            }
            for (; i + W8 <= n_in; i += W8) a0 += load(row + i) * load(xp + i);
            const vf a = (a0 + a1) + (a2 + a3);
            float s = 0.0f;
            for (int e = 0; e < W8; ++e) s += a[e];
            for (; i < n_in; ++i) s += row[i] * xp[i];
            out[p * n_out + j] = s;
        }
    }
}

// 2x2 max-pooling (stride 2, a last odd row or column dropped) of contiguous [N, H, W] planes into [N, H/2, W/2],
// optionally followed by tanh: a pair of rows is read once, its maxima taken a vector at a time, and the even and
// odd columns of the result separated by lane shuffles.
extern "C" void pool2_tanh(const float* x, float* out, int64_t N, int64_t H, int64_t W, int apply_tanh) {
    const int64_t Ho = H / 2, Wo = W / 2;
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t oy = 0; oy < Ho; ++oy) {
            const float* r0 = x + (n * H + 2 * oy) * W;
            const float* r1 = r0 + W;
            float* o = out + (n * Ho + oy) * Wo;
            int64_t ox = 0;
            for (; ox + W8 <= Wo; ox += W8) {
                const vf a = load(r0 + 2 * ox), b = load(r0 + 2 * ox + W8);
                const vf c = load(r1 + 2 * ox), d = load(r1 + 2 * ox + W8);
                const vf lo = a > c ? a : c, hi = b > d ? b : d;
                const vf even = __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14);
                const vf odd = __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15);
                const vf m = even > odd ? even : odd;
                store(o + ox, apply_tanh ? vtanh(m) : m);
            }
            for (; ox < Wo; ++ox) {
                float m = r0[2 * ox];
                const float v[3] = {r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]};
                for (float e : v) m = e > m ? e : m;
                o[ox] = apply_tanh ? tanh1(m) : m;
            }
        }
    }
}
