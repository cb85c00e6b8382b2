// Image kernels of the SimCLR augmentation that are too slow in JS: separable resampling (crop + antialiased
// resize) and the separable Gaussian blur. Plain C++, no Node: addon.cc binds them.
//
// Each kernel reproduces its JS reference (trainer/data/resample.ts, trainer/data/blur.ts) bit for bit: the same
// double-precision operations in the same order, rounded to float32 where the reference stores to a
// Float32Array. The build turns off FMA contraction (-ffp-contract=off) so the compiler cannot fuse them.
#pragma once

#include <cstdint>

namespace simclr::image {

// One axis of a separable resample: output i = sum over t < taps of weight[i * taps + t] * in[index[i * taps + t]].
struct Axis {
  const int32_t* index;
  const double* weight;
  int32_t taps;
  int32_t size;  // outputs
};

// Crop + resize of a uint8 HWC image into a float32 CHW slot, values / 255. `x` indexes columns and `y` rows
// relative to (top, left). Shapes: src [srcH, srcW, C] -> out [C, y.size, x.size].
void resampleCrop(const uint8_t* src, int32_t srcW, int32_t channels, int32_t top, int32_t left, const Axis& x,
                  const Axis& y, float* out);

// Separable blur of a CHW float image in place with odd symmetric `weights` (2r + 1 taps), reflect padding.
void gaussianBlur(float* img, int32_t channels, int32_t height, int32_t width, const float* weights, int32_t taps);

}  // namespace simclr::image
