// A Gloo process group: the rendezvous (TCP store + full mesh over Gloo's TCP transport) and the collectives.
// Plain C++, no N-API: every method blocks and is called from the addon's one worker thread, in the order JS asked.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gloo/context.h>
#include <gloo/transport/device.h>

#include "tcp_store.h"

namespace simclr {

enum class DType { F32, F64, I32, U8 };
size_t dtypeSize(DType t);
const char* dtypeName(DType t);

struct GroupOptions {
  int rank = 0;
  int worldSize = 1;
  std::string masterAddr = "127.0.0.1";
  int masterPort = 29300;
  std::chrono::milliseconds rendezvousTimeout{300000};
  std::chrono::milliseconds collectiveTimeout{300000};
  // Address other ranks use to reach this one (Gloo's TCP transport). Empty: this host's name, or 127.0.0.1 when
  // the master address is a loopback address. `iface` (a network interface name) wins over it when given.
  std::string hostname;
  std::string iface;
};

class Group {
 public:
  explicit Group(GroupOptions opts);
  ~Group();

  // Rendezvous: host the store (rank 0), reach it, check the world size and rank, build the full mesh.
  void connect();
  void allreduceSum(DType t, void* data, size_t count);
  // out holds worldSize * count elements.
  void allgather(DType t, const void* in, void* out, size_t count);
  void broadcast(DType t, void* data, size_t count, int root);
  void barrier();
  void close();

  const GroupOptions& options() const { return opts_; }

 private:
  // Every collective takes two tags, an odd one for agree() and the even one after it for the data, so a rank
  // that is one call ahead can never pair its metadata with another rank's data (or the reverse).
  uint32_t dataTag() const { return tag_ - 1; }
  // Before every collective, all ranks exchange (op, dtype, count, root) in one fixed-size allgather and throw,
  // all alike, if they differ: a size mismatch would otherwise abort the process inside Gloo's I/O thread
  // (GLOO_ENFORCE in tcp/pair.cc) or, for broadcast, silently truncate.
  void agree(int op, DType t, size_t count, int root);
  void requireConnected(const char* op) const;

  GroupOptions opts_;
  std::unique_ptr<TcpStoreServer> server_;
  std::unique_ptr<TcpStoreClient> store_;
  std::shared_ptr<gloo::transport::Device> device_;
  std::shared_ptr<gloo::Context> context_;
  uint32_t tag_ = 1;  // the next metadata tag
};

}  // namespace simclr
