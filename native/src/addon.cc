// N-API surface of the Gloo process group.
//
// Threading: each ProcessGroup owns ONE worker thread and a FIFO queue. Collectives must run in the same order on
// every rank, so they cannot go to libuv's pool (whose threads would run them in any order, and which they would
// block for up to the collective timeout). On the JS thread a call copies its input into a plain Job, queues it and
// returns a Promise; the worker runs the job touching only that Job; a thread-safe function brings the Job back to
// the JS thread, where the result (or the Gloo message) settles the Promise. Native errors never escape as C++
// exceptions across the boundary: they become rejected Promises.
#include <napi.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <gloo/common/error.h>
#include <gloo/common/logging.h>

#include "group.h"

namespace simclr {
namespace {

enum class JobKind { Connect, Allreduce, Allgather, Broadcast, Barrier, Destroy };

const char* jobName(JobKind k) {
  switch (k) {
    case JobKind::Connect: return "rendezvous";
    case JobKind::Allreduce: return "allreduce";
    case JobKind::Allgather: return "allgather";
    case JobKind::Broadcast: return "broadcast";
    case JobKind::Barrier: return "barrier";
    case JobKind::Destroy: return "destroy";
  }
  return "?";
}

// Everything one call needs, copied on the JS thread; the worker touches nothing else.
struct Job {
  Job() = default;
  explicit Job(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  JobKind kind = JobKind::Barrier;
  DType dtype = DType::F32;
  size_t count = 0;
  int root = 0;
  std::vector<uint8_t>* data = nullptr;  // input, and the output of allreduce/broadcast
  std::vector<uint8_t>* out = nullptr;   // allgather output
  bool ok = true;
  std::string error;
  std::string errorKind;  // "timeout", "io", "enforce", "config" ...
  std::optional<Napi::Promise::Deferred> deferred;  // empty for internal and native jobs
  // A native job (a collective called from another addon's thread, see simclr_gloo_allreduce_sum_f32) is handed
  // back by signalling this instead of through the JS thread.
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
  }* waiter = nullptr;
  ~Job() {
    delete data;
    delete out;
  }
};

// Shared by the JS object and the worker thread; outlives whichever goes first.
struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job*> queue;
  bool envGone = false;           // the JS environment is tearing down: `done` must not be touched again
  bool workerDone = false;        // the worker ran Destroy and takes no more jobs
  std::string brokenBecause;      // set after the first failed collective: Gloo's transport state is then unknown
  std::unique_ptr<Group> group;
  Napi::ThreadSafeFunction done;  // Job* -> settle on the JS thread
  size_t pending = 0;             // JS thread only: queued jobs, which keep the event loop alive
};

// Live groups by id, so another addon (the ONNX Runtime backend's collective operators) can name one without holding
// a pointer into this one's objects.
std::mutex registryMu;
std::unordered_map<uint32_t, std::weak_ptr<Shared>> registry;
uint32_t nextGroupId = 1;

std::string classify(const std::string& msg) {
  if (msg.find("ranks disagree") != std::string::npos) return "mismatch";
  if (msg.find("imed out") != std::string::npos || msg.find("timeout") != std::string::npos) return "timeout";
  return "io";
}

void runJob(Shared& s, Job* job) {
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (!s.brokenBecause.empty() && job->kind != JobKind::Destroy) {
      job->ok = false;
      job->errorKind = "broken";
      job->error = std::string(jobName(job->kind)) +
                   ": the process group failed earlier and cannot be used again (" + s.brokenBecause + ")";
      return;
    }
  }
  Group& g = *s.group;
  try {
    switch (job->kind) {
      case JobKind::Connect: g.connect(); break;
      case JobKind::Allreduce: g.allreduceSum(job->dtype, job->data->data(), job->count); break;
      case JobKind::Allgather: g.allgather(job->dtype, job->data->data(), job->out->data(), job->count); break;
      case JobKind::Broadcast: g.broadcast(job->dtype, job->data->data(), job->count, job->root); break;
      case JobKind::Barrier: g.barrier(); break;
      case JobKind::Destroy: g.close(); break;
    }
    return;
  } catch (const gloo::IoException& e) {
    job->error = e.what();
    job->errorKind = classify(job->error);
  } catch (const gloo::EnforceNotMet& e) {
    job->error = e.what();
    job->errorKind = "enforce";
  } catch (const std::exception& e) {
    job->error = e.what();
    job->errorKind = job->kind == JobKind::Connect ? "rendezvous" : classify(job->error);
  } catch (...) {
    job->error = "unknown native exception";
    job->errorKind = "unknown";
  }
  job->ok = false;
  const auto& o = g.options();
  std::string where = std::string(jobName(job->kind)) + " failed on rank " + std::to_string(o.rank) + " of " +
                      std::to_string(o.worldSize);
  const std::string prefix = "rendezvous: ";
  if (job->error.rfind(prefix, 0) == 0) job->error = job->error.substr(prefix.size());
  job->error = where + ": " + job->error;
  if (job->kind != JobKind::Destroy) {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.brokenBecause.empty()) s.brokenBecause = job->error;
  }
}

void settle(Shared& s, Napi::Env env, Job* job);
void workerLoop(std::shared_ptr<Shared> s) {
  for (;;) {
    Job* job;
    {
      std::unique_lock<std::mutex> lock(s->mu);
      s->cv.wait(lock, [&] { return !s->queue.empty() || s->envGone; });
      if (s->envGone) {
        // The process is exiting: leave Gloo as it is rather than tear it down under an exiting process.
        (void)new std::shared_ptr<Shared>(s);
        return;
      }
      job = s->queue.front();
      s->queue.pop_front();
    }
    runJob(*s, job);
    if (job->waiter != nullptr) {
      // The caller owns the job and waits for it; JS never sees it.
      std::lock_guard<std::mutex> lock(job->waiter->mu);
      job->waiter->done = true;
      job->waiter->cv.notify_one();
      continue;
    }
    const bool last = job->kind == JobKind::Destroy;
    {
      // Under the lock, so the environment's cleanup hook cannot free the function between check and call. The
      // queue is unbounded: the call never waits for the JS thread while holding the lock.
      std::lock_guard<std::mutex> lock(s->mu);
      if (s->envGone ||
          s->done.BlockingCall(job, [s](Napi::Env env, Napi::Function, Job* j) { settle(*s, env, j); }) != napi_ok) {
        delete job;
        (void)new std::shared_ptr<Shared>(s);  // as above: never the last owner while the process exits
        return;
      }
    }
    // After the Destroy job the JS thread releases `done` (see settle); this thread touches nothing shared again.
    if (last) {
      std::lock_guard<std::mutex> lock(s->mu);
      s->workerDone = true;
      // Only native jobs can be queued behind Destroy (JS calls are refused once it is queued): fail them.
      for (Job* left : s->queue) {
        left->ok = false;
        left->error = "allreduce: the process group was destroyed";
        std::lock_guard<std::mutex> wl(left->waiter->mu);
        left->waiter->done = true;
        left->waiter->cv.notify_one();
      }
      s->queue.clear();
      return;
    }
  }
}

// Environment teardown (process exit, worker_threads end): runs before Node frees the thread-safe function, because
// it was registered after it. Owns one reference to Shared, so it is never dangling.
void onEnvCleanup(void* arg) {
  auto* holder = static_cast<std::shared_ptr<Shared>*>(arg);
  {
    std::lock_guard<std::mutex> lock((*holder)->mu);
    (*holder)->envGone = true;
  }
  (*holder)->cv.notify_all();
  delete holder;
}

Napi::Value makeTyped(Napi::Env env, DType t, std::vector<uint8_t>* bytes) {
  const size_t n = bytes->size();
  // The vector's storage becomes the ArrayBuffer's: no second copy of a 100 MB result.
  auto ab = Napi::ArrayBuffer::New(env, bytes->data(), n,
                                   [](Napi::Env, void*, std::vector<uint8_t>* v) { delete v; }, bytes);
  switch (t) {
    case DType::F32: return Napi::Float32Array::New(env, n / 4, ab, 0);
    case DType::F64: return Napi::Float64Array::New(env, n / 8, ab, 0);
    case DType::I32: return Napi::Int32Array::New(env, n / 4, ab, 0);
    case DType::U8: return Napi::Uint8Array::New(env, n, ab, 0);
  }
  return env.Undefined();
}

// Runs on the JS thread for every finished job.
void settle(Shared& s, Napi::Env env, Job* job) {
  if (--s.pending == 0) s.done.Unref(env);
  if (job->kind == JobKind::Destroy) s.done.Release();  // the worker has stopped calling it
  if (!job->deferred) {
    delete job;
    return;
  }
  if (job->ok) {
    switch (job->kind) {
      case JobKind::Allreduce:
      case JobKind::Broadcast: {
        auto* bytes = job->data;
        job->data = nullptr;
        job->deferred->Resolve(makeTyped(env, job->dtype, bytes));
        break;
      }
      case JobKind::Allgather: {
        auto* bytes = job->out;
        job->out = nullptr;
        job->deferred->Resolve(makeTyped(env, job->dtype, bytes));
        break;
      }
      default: job->deferred->Resolve(env.Undefined());
    }
  } else {
    auto err = Napi::Error::New(env, job->error);
    err.Set("kind", Napi::String::New(env, job->errorKind));
    job->deferred->Reject(err.Value());
  }
  delete job;
}

class ProcessGroup : public Napi::ObjectWrap<ProcessGroup> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ProcessGroup",
                       {
                           InstanceMethod<&ProcessGroup::Connect>("connect"),
                           InstanceMethod<&ProcessGroup::Allreduce>("allreduceSum"),
                           InstanceMethod<&ProcessGroup::Allgather>("allgather"),
                           InstanceMethod<&ProcessGroup::Broadcast>("broadcast"),
                           InstanceMethod<&ProcessGroup::Barrier>("barrier"),
                           InstanceMethod<&ProcessGroup::Destroy>("destroy"),
                           InstanceAccessor<&ProcessGroup::NativeId>("nativeId"),
                       });
  }

  explicit ProcessGroup(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroup>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "ProcessGroup(options): options must be an object");
    auto o = info[0].As<Napi::Object>();
    GroupOptions opts;
    opts.rank = intField(o, "rank");
    opts.worldSize = intField(o, "worldSize");
    opts.masterAddr = o.Get("masterAddr").ToString().Utf8Value();
    opts.masterPort = intField(o, "masterPort");
    opts.rendezvousTimeout = std::chrono::milliseconds(intField(o, "rendezvousTimeoutMs"));
    opts.collectiveTimeout = std::chrono::milliseconds(intField(o, "collectiveTimeoutMs"));
    if (o.Has("hostname") && o.Get("hostname").IsString()) opts.hostname = o.Get("hostname").ToString();
    if (o.Has("iface") && o.Get("iface").IsString()) opts.iface = o.Get("iface").ToString();
    if (opts.worldSize < 1 || opts.rank < 0 || opts.rank >= opts.worldSize) {
      throw Napi::RangeError::New(env, "ProcessGroup: rank must be in [0, worldSize)");
    }
    if (opts.masterPort < 1 || opts.masterPort > 65535) {
      throw Napi::RangeError::New(env, "ProcessGroup: masterPort must be in [1, 65535]");
    }
    shared_ = std::make_shared<Shared>();
    shared_->group = std::make_unique<Group>(opts);
    shared_->done = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                                  "simclr-gloo", 0, 1, [](Napi::Env) {});
    shared_->done.Unref(env);  // only pending jobs keep the process alive
    napi_add_env_cleanup_hook(env, onEnvCleanup, new std::shared_ptr<Shared>(shared_));
    worker_ = std::thread(workerLoop, shared_);
    std::lock_guard<std::mutex> lock(registryMu);
    id_ = nextGroupId++;
    registry[id_] = shared_;
  }

  ~ProcessGroup() override {
    // Collected without destroy(), or the environment is closing (process exit): never block this thread on the
    // network and never tear Gloo down under an exiting process. The worker is left to the process (destroy() is
    // the way to release a group early).
    if (worker_.joinable()) worker_.detach();
    std::lock_guard<std::mutex> lock(registryMu);
    registry.erase(id_);
  }

 private:
  static int intField(const Napi::Object& o, const char* name) {
    auto v = o.Get(name);
    if (!v.IsNumber()) {
      throw Napi::TypeError::New(o.Env(), std::string("ProcessGroup: option ") + name + " must be a number");
    }
    return v.As<Napi::Number>().Int32Value();
  }

  static DType dtypeOf(const Napi::TypedArray& a) {
    switch (a.TypedArrayType()) {
      case napi_float32_array: return DType::F32;
      case napi_float64_array: return DType::F64;
      case napi_int32_array: return DType::I32;
      case napi_uint8_array: return DType::U8;
      default:
        throw Napi::TypeError::New(a.Env(), "expected a Float32Array, Float64Array, Int32Array or Uint8Array");
    }
  }

  // Copies the typed array's bytes into a new Job (the JS side may reuse its array as soon as we return).
  Job* jobWithInput(const Napi::CallbackInfo& info, JobKind kind) {
    if (info.Length() < 1 || !info[0].IsTypedArray()) {
      throw Napi::TypeError::New(info.Env(), std::string(jobName(kind)) + ": expected a typed array");
    }
    auto a = info[0].As<Napi::TypedArray>();
    auto* job = new Job(info.Env());
    job->kind = kind;
    job->dtype = dtypeOf(a);
    job->count = a.ElementLength();
    const uint8_t* src = static_cast<const uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
    job->data = new std::vector<uint8_t>(src, src + a.ByteLength());
    return job;
  }

  Napi::Value enqueue(Napi::Env env, Job* job) {
    Napi::Promise promise = job->deferred->Promise();
    if (destroyQueued_) {
      job->deferred->Reject(Napi::Error::New(env, std::string(jobName(job->kind)) +
                                                     ": the process group was destroyed").Value());
      delete job;
      return promise;
    }
    if (job->kind == JobKind::Destroy) destroyQueued_ = true;
    if (shared_->pending++ == 0) shared_->done.Ref(env);
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->queue.push_back(job);
    }
    shared_->cv.notify_one();
    // The callback settles the Promise on the JS thread.
    return promise;
  }

 private:
  Napi::Value Connect(const Napi::CallbackInfo& info) {
    auto* job = new Job(info.Env());
    job->kind = JobKind::Connect;
    return enqueue(info.Env(), job);
  }

  Napi::Value Allreduce(const Napi::CallbackInfo& info) { return enqueue(info.Env(), jobWithInput(info, JobKind::Allreduce)); }

  Napi::Value Allgather(const Napi::CallbackInfo& info) {
    Job* job = jobWithInput(info, JobKind::Allgather);
    job->out = new std::vector<uint8_t>(job->data->size() * shared_->group->options().worldSize);
    return enqueue(info.Env(), job);
  }

  Napi::Value Broadcast(const Napi::CallbackInfo& info) {
    const int worldSize = shared_->group->options().worldSize;
    int root = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
    if (root < 0 || root >= worldSize) {
      throw Napi::RangeError::New(info.Env(), "broadcast: root " + std::to_string(root) + " is not in [0, " +
                                                  std::to_string(worldSize) + ")");
    }
    Job* job = jobWithInput(info, JobKind::Broadcast);
    job->root = root;
    return enqueue(info.Env(), job);
  }

  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    auto* job = new Job(info.Env());
    job->kind = JobKind::Barrier;
    return enqueue(info.Env(), job);
  }

  Napi::Value NativeId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), id_); }

  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    auto* job = new Job(info.Env());
    job->kind = JobKind::Destroy;
    return enqueue(info.Env(), job);
  }

  std::shared_ptr<Shared> shared_;
  std::thread worker_;
  bool destroyQueued_ = false;
  uint32_t id_ = 0;
};

}  // namespace
}  // namespace simclr

// An allreduce-sum of float32 in place, for the ONNX Runtime backend's collective operators (simclr_ort.node finds
// this by name): queued on the group's worker thread like a JS call, so it keeps the call order every rank shares, and
// waited for on the calling thread (an ORT kernel inside a session run). Returns 0, or -1 with the message in `error`.
extern "C" __attribute__((visibility("default"))) int simclr_gloo_allreduce_sum_f32(uint32_t groupId, float* data,
                                                                                     size_t count, char* error,
                                                                                     size_t errorCapacity) {
  using namespace simclr;
  auto fail = [&](const std::string& message) {
    if (errorCapacity > 0) {
      std::strncpy(error, message.c_str(), errorCapacity - 1);
      error[errorCapacity - 1] = '\0';
    }
    return -1;
  };
  std::shared_ptr<Shared> s;
  {
    std::lock_guard<std::mutex> lock(registryMu);
    auto it = registry.find(groupId);
    if (it != registry.end()) s = it->second.lock();
  }
  if (!s) return fail("allreduce: process group " + std::to_string(groupId) + " does not exist (destroyed?)");
  Job job;
  Job::Waiter waiter;
  job.kind = JobKind::Allreduce;
  job.dtype = DType::F32;
  job.count = count;
  const auto* bytes = reinterpret_cast<const uint8_t*>(data);
  job.data = new std::vector<uint8_t>(bytes, bytes + count * sizeof(float));
  job.waiter = &waiter;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (s->envGone) return fail("allreduce: the process is exiting");
    if (s->workerDone) return fail("allreduce: the process group was destroyed");
    s->queue.push_back(&job);
  }
  s->cv.notify_one();
  {
    std::unique_lock<std::mutex> lock(waiter.mu);
    waiter.cv.wait(lock, [&] { return waiter.done; });
  }
  if (!job.ok) return fail(job.error);
  std::memcpy(data, job.data->data(), count * sizeof(float));
  return 0;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("ProcessGroup", simclr::ProcessGroup::Define(env));
  return exports;
}

NODE_API_MODULE(simclr_gloo, Init)
