#include "group.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/transport/tcp/device.h>

namespace simclr {

size_t dtypeSize(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I32: return 4;
    case DType::U8: return 1;
  }
  return 1;
}

const char* dtypeName(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::I32: return "int32";
    case DType::U8: return "uint8";
  }
  return "?";
}

namespace {

bool isLoopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

std::vector<char> bytes(const std::string& s) { return std::vector<char>(s.begin(), s.end()); }

std::string thisHost() {
  char name[256] = {0};
  gethostname(name, sizeof(name) - 1);
  return std::string(name) + " pid " + std::to_string(getpid());
}

template <typename T>
void sumInto(gloo::AllreduceOptions& o) {
  o.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<T>));
}

}  // namespace

Group::Group(GroupOptions opts) : opts_(std::move(opts)) {}

Group::~Group() { close(); }

void Group::connect() {
  using std::chrono::milliseconds;
  const auto deadline = Clock::now() + opts_.rendezvousTimeout;
  if (opts_.rank == 0) server_ = std::make_unique<TcpStoreServer>(opts_.masterPort);
  // Rank 0 reaches its own store over loopback: its service name may not resolve for itself yet.
  const std::string storeHost = opts_.rank == 0 ? "127.0.0.1" : opts_.masterAddr;
  store_ = std::make_unique<TcpStoreClient>(storeHost, opts_.masterPort, deadline, opts_.rendezvousTimeout);

  // Two replicas given the same rank, or disagreeing world sizes, fail here with a message instead of a hang.
  std::vector<char> holder;
  const std::string rankKey = "simclr/rank/" + std::to_string(opts_.rank);
  if (!store_->setIfAbsent(rankKey, bytes(thisHost()), &holder)) {
    throw std::runtime_error("rendezvous: rank " + std::to_string(opts_.rank) + " was already taken by " +
                             std::string(holder.begin(), holder.end()) + "; every replica needs its own rank");
  }
  if (opts_.rank == 0) {
    store_->set("simclr/world_size", bytes(std::to_string(opts_.worldSize)));
  } else {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    store_->wait({"simclr/world_size"}, std::max(left, milliseconds(1)));
    auto v = store_->get("simclr/world_size");
    std::string theirs(v.begin(), v.end());
    if (theirs != std::to_string(opts_.worldSize)) {
      throw std::runtime_error("rendezvous: this rank has world size " + std::to_string(opts_.worldSize) +
                               " but rank 0 has " + theirs + " (check WORLD_SIZE / --num-replicas on every replica)");
    }
  }

  gloo::transport::tcp::attr attr;
  if (!opts_.iface.empty()) {
    attr.iface = opts_.iface;
  } else if (!opts_.hostname.empty()) {
    attr.hostname = opts_.hostname;
  } else if (isLoopback(opts_.masterAddr)) {
    attr.hostname = "127.0.0.1";
  } else {
    char name[256] = {0};
    gethostname(name, sizeof(name) - 1);
    attr.hostname = name;
  }
  device_ = gloo::transport::tcp::CreateDevice(attr);

  auto ctx = std::make_shared<gloo::rendezvous::Context>(opts_.rank, opts_.worldSize);
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
  ctx->setTimeout(std::max(left, milliseconds(1)));
  store_->setTimeout(std::max(left, milliseconds(1)));
  ctx->connectFullMesh(*store_, device_);
  ctx->setTimeout(opts_.collectiveTimeout);
  context_ = ctx;
}

namespace {

enum OpCode : int64_t { kOpAllreduce = 1, kOpAllgather = 2, kOpBroadcast = 3, kOpBarrier = 4 };

const char* opName(int64_t op) {
  switch (op) {
    case kOpAllreduce: return "allreduce";
    case kOpAllgather: return "allgather";
    case kOpBroadcast: return "broadcast";
    case kOpBarrier: return "barrier";
  }
  return "?";
}

std::string describe(const int64_t* m) {
  std::ostringstream s;
  s << opName(m[0]);
  if (m[0] != kOpBarrier) s << " of " << m[2] << " " << dtypeName(static_cast<DType>(m[1]));
  if (m[0] == kOpBroadcast) s << " from root " << m[3];
  return s.str();
}

}  // namespace

void Group::agree(int op, DType t, size_t count, int root) {
  const int n = opts_.worldSize;
  int64_t mine[4] = {op, static_cast<int64_t>(t), static_cast<int64_t>(count), root};
  std::vector<int64_t> all(4 * static_cast<size_t>(n));
  gloo::AllgatherOptions o(context_);
  o.setTag(tag_);
  tag_ += 2;
  o.setTimeout(opts_.collectiveTimeout);
  o.setInput(reinterpret_cast<uint8_t*>(mine), sizeof(mine));
  o.setOutput(reinterpret_cast<uint8_t*>(all.data()), sizeof(mine) * n);
  gloo::allgather(o);
  bool same = true;
  for (int r = 1; r < n && same; r++) same = std::equal(&all[0], &all[4], &all[4 * r]);
  if (same) return;
  std::ostringstream msg;
  msg << "ranks disagree on the collective (every rank must make the same calls with equal-sized arrays):";
  for (int r = 0; r < n && r < 16; r++) msg << (r ? "," : "") << " rank " << r << " " << describe(&all[4 * r]);
  if (n > 16) msg << ", ...";
  throw std::runtime_error(msg.str());
}

void Group::requireConnected(const char* op) const {
  if (!context_) throw std::runtime_error(std::string(op) + ": the process group is not connected");
}

void Group::allreduceSum(DType t, void* data, size_t count) {
  requireConnected("allreduce");
  if (opts_.worldSize == 1) return;
  agree(kOpAllreduce, t, count, 0);
  if (count == 0) return;
  gloo::AllreduceOptions o(context_);
  o.setTag(dataTag());
  o.setTimeout(opts_.collectiveTimeout);
  o.setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);
  switch (t) {
    case DType::F32: o.setOutput(static_cast<float*>(data), count); sumInto<float>(o); break;
    case DType::F64: o.setOutput(static_cast<double*>(data), count); sumInto<double>(o); break;
    case DType::I32: o.setOutput(static_cast<int32_t*>(data), count); sumInto<int32_t>(o); break;
    case DType::U8: o.setOutput(static_cast<uint8_t*>(data), count); sumInto<uint8_t>(o); break;
  }
  gloo::allreduce(o);
}

void Group::allgather(DType t, const void* in, void* out, size_t count) {
  requireConnected("allgather");
  const size_t bytesPerRank = count * dtypeSize(t);
  if (opts_.worldSize == 1) {
    if (bytesPerRank) memcpy(out, in, bytesPerRank);
    return;
  }
  agree(kOpAllgather, t, count, 0);
  if (count == 0) return;
  // Gloo's allgather works on bytes; the element type only matters for sizes.
  gloo::AllgatherOptions o(context_);
  o.setTag(dataTag());
  o.setTimeout(opts_.collectiveTimeout);
  o.setInput(const_cast<uint8_t*>(static_cast<const uint8_t*>(in)), bytesPerRank);
  o.setOutput(static_cast<uint8_t*>(out), bytesPerRank * opts_.worldSize);
  gloo::allgather(o);
}

void Group::broadcast(DType t, void* data, size_t count, int root) {
  requireConnected("broadcast");
  if (root < 0 || root >= opts_.worldSize) throw std::runtime_error("broadcast: root out of range");
  if (opts_.worldSize == 1) return;
  agree(kOpBroadcast, t, count, root);
  if (count == 0) return;
  gloo::BroadcastOptions o(context_);
  o.setTag(dataTag());
  o.setTimeout(opts_.collectiveTimeout);
  o.setRoot(root);
  o.setOutput(static_cast<uint8_t*>(data), count * dtypeSize(t));
  gloo::broadcast(o);
}

void Group::barrier() {
  requireConnected("barrier");
  if (opts_.worldSize == 1) return;
  agree(kOpBarrier, DType::U8, 0, 0);
  gloo::BarrierOptions o(context_);
  o.setTag(dataTag());
  o.setTimeout(opts_.collectiveTimeout);
  gloo::barrier(o);
}

void Group::close() {
  context_.reset();
  device_.reset();
  store_.reset();
  if (server_) server_->stop();
  server_.reset();
}

}  // namespace simclr
