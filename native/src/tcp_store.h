// A small TCP key-value store for Gloo's rendezvous (the role of torch's TCPStore).
//
// Rank 0 runs a TcpStoreServer (one thread, poll(2) over all clients); every rank, rank 0 included, talks to it
// through a TcpStoreClient, which implements gloo::rendezvous::Store so that gloo::rendezvous::Context can build its
// full mesh through it. Every network wait has a deadline: nothing here blocks forever.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gloo/rendezvous/store.h>

namespace simclr {

using Clock = std::chrono::steady_clock;

// Listens on every interface (IPv6 dual-stack when available, else IPv4) and serves SET / GET / SETNX until stop().
class TcpStoreServer {
 public:
  // Throws std::runtime_error naming the port if it cannot listen.
  explicit TcpStoreServer(int port);
  ~TcpStoreServer();
  TcpStoreServer(const TcpStoreServer&) = delete;
  TcpStoreServer& operator=(const TcpStoreServer&) = delete;

  void stop();

 private:
  void run();

  int listenFd_ = -1;
  int wakeRead_ = -1;
  int wakeWrite_ = -1;
  std::thread thread_;
  std::map<std::string, std::vector<char>> data_;  // touched by the server thread only
};

class TcpStoreClient : public gloo::rendezvous::Store {
 public:
  // Connects to host:port, retrying with exponential backoff (50 ms doubling to 1 s) until `deadline`; then throws
  // std::runtime_error naming host:port and the last error seen. `opTimeout` bounds every later request.
  TcpStoreClient(const std::string& host, int port, Clock::time_point deadline, std::chrono::milliseconds opTimeout);
  ~TcpStoreClient() override;

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override;

  // Sets key to data unless it exists; returns true if set, else false with the existing value in `existing`.
  bool setIfAbsent(const std::string& key, const std::vector<char>& data, std::vector<char>* existing);
  // One non-blocking lookup.
  bool tryGet(const std::string& key, std::vector<char>* out);

  void setTimeout(std::chrono::milliseconds timeout) { opTimeout_ = timeout; }
  const std::string& endpoint() const { return endpoint_; }

 private:
  std::vector<char> request(uint8_t op, const std::string& key, const std::vector<char>& data, uint8_t* status);

  int fd_ = -1;
  std::string endpoint_;
  std::chrono::milliseconds opTimeout_;
};

}  // namespace simclr
