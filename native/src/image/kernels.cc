#include "kernels.h"

#include <algorithm>
#include <vector>

namespace simclr::image {

void resampleCrop(const uint8_t* src, int32_t srcW, int32_t channels, int32_t top, int32_t left, const Axis& x,
                  const Axis& y, float* out) {
  const int32_t outW = x.size;
  const int32_t outH = y.size;
  const int32_t rowLen = channels * outW;
  // Source rows any output row reads: resample each of them horizontally once, in doubles.
  const int32_t* yEnd = y.index + static_cast<int64_t>(outH) * y.taps;
  const int32_t rowMin = *std::min_element(y.index, yEnd);
  const int32_t rowMax = *std::max_element(y.index, yEnd);
  std::vector<double> rows(static_cast<size_t>(rowMax - rowMin + 1) * rowLen, 0.0);
  for (int32_t r = rowMin; r <= rowMax; r++) {
    const uint8_t* line = src + (static_cast<int64_t>(top + r) * srcW + left) * channels;
    double* h = rows.data() + static_cast<size_t>(r - rowMin) * rowLen;
    if (channels == 3) {
      // Interleaved RGB: one pass over the taps feeds all three sums (each still summed in tap order).
      for (int32_t ox = 0; ox < outW; ox++) {
        const int32_t* idx = x.index + static_cast<int64_t>(ox) * x.taps;
        const double* w = x.weight + static_cast<int64_t>(ox) * x.taps;
        double a0 = 0.0, a1 = 0.0, a2 = 0.0;
        for (int32_t t = 0; t < x.taps; t++) {
          const uint8_t* p = line + idx[t] * 3;
          a0 += w[t] * static_cast<double>(p[0]);
          a1 += w[t] * static_cast<double>(p[1]);
          a2 += w[t] * static_cast<double>(p[2]);
        }
        h[ox] = a0;
        h[outW + ox] = a1;
        h[2 * outW + ox] = a2;
      }
      continue;
    }
    for (int32_t c = 0; c < channels; c++) {
      double* hc = h + c * outW;
      for (int32_t ox = 0; ox < outW; ox++) {
        const int32_t* idx = x.index + static_cast<int64_t>(ox) * x.taps;
        const double* w = x.weight + static_cast<int64_t>(ox) * x.taps;
        double acc = 0.0;
        for (int32_t t = 0; t < x.taps; t++) acc += w[t] * static_cast<double>(line[idx[t] * channels + c]);
        hc[ox] = acc;
      }
    }
  }
  // Vertical: output rows blend resampled rows; the loop over x is innermost so it vectorises.
  const int64_t plane = static_cast<int64_t>(outH) * outW;
  const double scale = 1.0 / 255.0;
  std::vector<double> acc(outW);
  for (int32_t oy = 0; oy < outH; oy++) {
    const int32_t* idx = y.index + static_cast<int64_t>(oy) * y.taps;
    const double* w = y.weight + static_cast<int64_t>(oy) * y.taps;
    for (int32_t c = 0; c < channels; c++) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int32_t t = 0; t < y.taps; t++) {
        const double wt = w[t];
        const double* h = rows.data() + static_cast<size_t>(idx[t] - rowMin) * rowLen + c * outW;
        for (int32_t ox = 0; ox < outW; ox++) acc[ox] += wt * h[ox];
      }
      float* o = out + c * plane + static_cast<int64_t>(oy) * outW;
      for (int32_t ox = 0; ox < outW; ox++) o[ox] = static_cast<float>(acc[ox] * scale);
    }
  }
}

namespace {

// Reflect (without repeating the edge) an index into [0, n): -1 -> 1, n -> n - 2.
int32_t reflect(int32_t i, int32_t n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

// acc[x] = wc * centre[x] + sum_k w[k] * (near[k][x] + far[k][x]) in doubles, k in order; then rounded to float.
// `row(j)` gives the j-th of the 2r + 1 input rows for this output (j = r is the centre).
template <typename RowAt>
void symmetricTaps(const float* w, int32_t r, int32_t n, RowAt row, std::vector<double>& acc, float* dst) {
  const double wc = w[r];
  const float* centre = row(r);
  for (int32_t x = 0; x < n; x++) acc[x] = wc * static_cast<double>(centre[x]);
  for (int32_t k = 0; k < r; k++) {
    const double wk = w[k];
    const float* a = row(k);
    const float* b = row(2 * r - k);
    for (int32_t x = 0; x < n; x++) acc[x] += wk * (static_cast<double>(a[x]) + static_cast<double>(b[x]));
  }
  for (int32_t x = 0; x < n; x++) dst[x] = static_cast<float>(acc[x]);
}

}  // namespace

void gaussianBlur(float* img, int32_t channels, int32_t height, int32_t width, const float* weights, int32_t taps) {
  const int32_t r = (taps - 1) / 2;
  if (r == 0) return;
  const int64_t plane = static_cast<int64_t>(height) * width;
  std::vector<float> tmp(plane);
  std::vector<float> padded(width + 2 * r);
  std::vector<double> acc(std::max(width, 1));
  std::vector<int64_t> rowAt(height + 2 * r);
  for (int32_t y = -r; y < height + r; y++) rowAt[y + r] = static_cast<int64_t>(reflect(y, height)) * width;
  for (int32_t c = 0; c < channels; c++) {
    float* base = img + c * plane;
    // Horizontal pass into tmp, through one reflect-padded copy of each row.
    for (int32_t y = 0; y < height; y++) {
      const float* line = base + static_cast<int64_t>(y) * width;
      for (int32_t i = -r; i < width + r; i++) padded[i + r] = line[reflect(i, width)];
      const float* p = padded.data();
      symmetricTaps(weights, r, width, [p](int32_t j) { return p + j; }, acc, tmp.data() + static_cast<int64_t>(y) * width);
    }
    // Vertical pass back into the image.
    for (int32_t y = 0; y < height; y++) {
      const float* t = tmp.data();
      const int64_t* rows = rowAt.data() + y;
      symmetricTaps(weights, r, width, [t, rows](int32_t j) { return t + rows[j]; }, acc, base + static_cast<int64_t>(y) * width);
    }
  }
}

}  // namespace simclr::image
