// The plastic update of a population's linear weights, and their normalisation by max |w|, in one loop each.
//
// A low-rank update (neuron-centric ABCD):
//
//     w[p] += V[p] @ U[p]        (w [P, n_out, n_in], V [P, n_out, r], U [P, r, n_in], all contiguous)
//     w[p] *= 1 / max(max |w[p]|, eps)        where normalise
//
// One individual's weights are updated row by row with the max and min kept in registers, then scaled while
// they are still in cache: the weights cross memory once each way, where baddbmm, amax, amin and a product pass
// read them four times and write them twice. Built by native_linear_update.py with the machine's own vector width.
#include <cstdint>

typedef float vf __attribute__((vector_size(32)));
static constexpr int W8 = 8;

static inline vf load(const float* p) { vf r; __builtin_memcpy(&r, p, sizeof(vf)); return r; }
static inline void store(float* p, vf v) { __builtin_memcpy(p, &v, sizeof(vf)); }

// R: the rank as a compile-time constant (0: the run-time r)
template <int R>
static float update_rows(float* w, const float* V, const float* U, int64_t n_out, int64_t n_in, int64_t r) {
    const int64_t rank = R ? R : r;
    vf hi = vf{} - __builtin_inff(), lo = vf{} + __builtin_inff();
    float hi1 = -__builtin_inff(), lo1 = __builtin_inff();
    for (int64_t j = 0; j < n_out; ++j) {
        float* row = w + j * n_in;
        const float* vj = V + j * rank;
        int64_t i = 0;
        for (; i + W8 <= n_in; i += W8) {
            vf acc = load(row + i);
            for (int64_t q = 0; q < rank; ++q) acc += vj[q] * load(U + q * n_in + i);
            store(row + i, acc);
            hi = acc > hi ? acc : hi;
            lo = acc < lo ? acc : lo;
        }
        for (; i < n_in; ++i) {
            float acc = row[i];
            for (int64_t q = 0; q < rank; ++q) acc += vj[q] * U[q * n_in + i];
            row[i] = acc;
            hi1 = acc > hi1 ? acc : hi1;
            lo1 = acc < lo1 ? acc : lo1;
        }
    }
    for (int e = 0; e < W8; ++e) {
        hi1 = hi[e] > hi1 ? hi[e] : hi1;
        lo1 = lo[e] < lo1 ? lo[e] : lo1;
    }
    return hi1 > -lo1 ? hi1 : -lo1;
}

extern "C" void low_rank_update(float* w, const float* V, const float* U, int64_t P, int64_t n_out, int64_t n_in,
                                int64_t r, int normalise, float eps) {
    for (int64_t p = 0; p < P; ++p) {
        float* wp = w + p * n_out * n_in;
        const float* Vp = V + p * n_out * r;
        const float* Up = U + p * r * n_in;
        const float m = r == 8 ? update_rows<8>(wp, Vp, Up, n_out, n_in, r) : update_rows<0>(wp, Vp, Up, n_out, n_in, r);
        if (!normalise) continue;
        const float s = 1.0f / (m > eps ? m : eps);
        const int64_t n = n_out * n_in;
        int64_t i = 0;
        for (; i + W8 <= n; i += W8) store(wp + i, load(wp + i) * s);
        for (; i < n; ++i) wp[i] *= s;
    }
}

// Synapse-centric ABCD on a linear layer, with its normalisation: per individual and synapse (j, i),
//
//     w[j, i] += (a[j, i] y[j] + b[j, i]) x[i] + c[j, i] y[j] + d[j, i]      (a = eta A, ..., d = eta D)
//
// then w *= 1 / max(max |w|, eps) where normalise; a, b, c, d [P, n_out, n_in], x [P, n_in], y [P, n_out]. Every
// array is read once and w written once, where torch's expression makes a pass per operation.
extern "C" void synapse_update(float* w, const float* a, const float* b, const float* c, const float* d,
                               const float* x, const float* y, int64_t P, int64_t n_out, int64_t n_in,
                               int normalise, float eps) {
    for (int64_t p = 0; p < P; ++p) {
        const int64_t base = p * n_out * n_in;
        float* wp = w + base;
        const float* xp = x + p * n_in;
        vf hi = vf{} - __builtin_inff(), lo = vf{} + __builtin_inff();
        float hi1 = -__builtin_inff(), lo1 = __builtin_inff();
        for (int64_t j = 0; j < n_out; ++j) {
            const int64_t row = base + j * n_in;
            const float yj = y[p * n_out + j];
            float* wr = w + row;
            int64_t i = 0;
            for (; i + W8 <= n_in; i += W8) {
                const vf acc = load(wr + i) + (load(a + row + i) * yj + load(b + row + i)) * load(xp + i)
                               + load(c + row + i) * yj + load(d + row + i);
                store(wr + i, acc);
                hi = acc > hi ? acc : hi;
                lo = acc < lo ? acc : lo;
            }
            for (; i < n_in; ++i) {
                const float acc = wr[i] + (a[row + i] * yj + b[row + i]) * xp[i] + c[row + i] * yj + d[row + i];
                wr[i] = acc;
                hi1 = acc > hi1 ? acc : hi1;
                lo1 = acc < lo1 ? acc : lo1;
            }
        }
        if (!normalise) continue;
        for (int e = 0; e < W8; ++e) {
            hi1 = hi[e] > hi1 ? hi[e] : hi1;
            lo1 = lo[e] < lo1 ? lo[e] : lo1;
        }
        const float m = hi1 > -lo1 ? hi1 : -lo1;
        const float s = 1.0f / (m > eps ? m : eps);
        const int64_t n = n_out * n_in;
        int64_t i = 0;
        for (; i + W8 <= n; i += W8) store(wp + i, load(wp + i) * s);
        for (; i < n; ++i) wp[i] *= s;
    }
}
