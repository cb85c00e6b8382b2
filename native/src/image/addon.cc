// N-API surface of the image kernels: synchronous calls on typed arrays, no copies. They run on the calling
// thread (the loader's worker threads call them), so the addon keeps no state and is safe in every thread.
// Arguments are checked here so that a wrong call throws a TypeError/RangeError instead of touching memory out
// of bounds; the JS wrapper (trainer/data/native-image.ts) builds them from validated shapes.
#include <napi.h>

#include <algorithm>
#include <string>

#include "kernels.h"

namespace simclr::image {
namespace {

template <typename T>
constexpr napi_typedarray_type arrayTypeOf();
template <>
constexpr napi_typedarray_type arrayTypeOf<uint8_t>() { return napi_uint8_array; }
template <>
constexpr napi_typedarray_type arrayTypeOf<int32_t>() { return napi_int32_array; }
template <>
constexpr napi_typedarray_type arrayTypeOf<float>() { return napi_float32_array; }
template <>
constexpr napi_typedarray_type arrayTypeOf<double>() { return napi_float64_array; }

template <typename T>
Napi::TypedArrayOf<T> typedArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != arrayTypeOf<T>()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " has the wrong type (see trainer/data/native-image.ts)");
  }
  return info[i].As<Napi::TypedArrayOf<T>>();
}

int32_t intArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().Int32Value();
}

void require(const Napi::Env& env, bool ok, const std::string& message) {
  if (!ok) throw Napi::RangeError::New(env, message);
}

Axis axisArg(const Napi::CallbackInfo& info, size_t first, const char* name, int32_t inputSize) {
  auto index = typedArg<int32_t>(info, first, name);
  auto weight = typedArg<double>(info, first + 1, name);
  const int32_t taps = intArg(info, first + 2, name);
  require(info.Env(), taps > 0 && index.ElementLength() == weight.ElementLength() && index.ElementLength() % taps == 0,
          std::string(name) + ": index and weight must hold size * taps entries");
  const int32_t* begin = index.Data();
  const int32_t* end = begin + index.ElementLength();
  require(info.Env(), index.ElementLength() > 0 && *std::min_element(begin, end) >= 0 && *std::max_element(begin, end) < inputSize,
          std::string(name) + ": index outside the crop");
  return Axis{begin, weight.Data(), taps, static_cast<int32_t>(index.ElementLength() / taps)};
}

// resampleCrop(src u8, srcW, channels, top, left, boxH, boxW, xIndex i32, xWeight f64, xTaps, yIndex, yWeight,
//              yTaps, out f32, offset)
Napi::Value ResampleCrop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto src = typedArg<uint8_t>(info, 0, "src");
  const int32_t srcW = intArg(info, 1, "srcW");
  const int32_t channels = intArg(info, 2, "channels");
  const int32_t top = intArg(info, 3, "top");
  const int32_t left = intArg(info, 4, "left");
  const int32_t boxH = intArg(info, 5, "boxH");
  const int32_t boxW = intArg(info, 6, "boxW");
  require(env, srcW > 0 && channels > 0 && top >= 0 && left >= 0 && boxH > 0 && boxW > 0 && left + boxW <= srcW &&
                   static_cast<int64_t>(top + boxH) * srcW * channels <= static_cast<int64_t>(src.ElementLength()),
          "resampleCrop: the crop box is outside the image");
  const Axis x = axisArg(info, 7, "x", boxW);
  const Axis y = axisArg(info, 10, "y", boxH);
  auto out = typedArg<float>(info, 13, "out");
  const int64_t offset = intArg(info, 14, "offset");
  require(env, offset >= 0 && offset + static_cast<int64_t>(channels) * x.size * y.size <= static_cast<int64_t>(out.ElementLength()),
          "resampleCrop: out is too small for the image at offset");
  resampleCrop(src.Data(), srcW, channels, top, left, x, y, out.Data() + offset);
  return env.Undefined();
}

// gaussianBlur(img f32, offset, channels, height, width, weights f32)
Napi::Value GaussianBlur(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto img = typedArg<float>(info, 0, "img");
  const int64_t offset = intArg(info, 1, "offset");
  const int32_t channels = intArg(info, 2, "channels");
  const int32_t height = intArg(info, 3, "height");
  const int32_t width = intArg(info, 4, "width");
  auto weights = typedArg<float>(info, 5, "weights");
  const int32_t taps = static_cast<int32_t>(weights.ElementLength());
  require(env, channels > 0 && height > 0 && width > 0 && offset >= 0 &&
                   offset + static_cast<int64_t>(channels) * height * width <= static_cast<int64_t>(img.ElementLength()),
          "gaussianBlur: img is too small for the image at offset");
  require(env, taps % 2 == 1, "gaussianBlur: weights must have an odd length");
  gaussianBlur(img.Data() + offset, channels, height, width, weights.Data(), taps);
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("resampleCrop", Napi::Function::New(env, ResampleCrop, "resampleCrop"));
  exports.Set("gaussianBlur", Napi::Function::New(env, GaussianBlur, "gaussianBlur"));
  return exports;
}

}  // namespace
}  // namespace simclr::image

static Napi::Object InitImageAddon(Napi::Env env, Napi::Object exports) { return simclr::image::Init(env, exports); }

NODE_API_MODULE(simclr_image, InitImageAddon)
