#include "tcp_store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace simclr {
namespace {

// Wire format, all integers big-endian.
//   request: u8 op | u32 keyLen | u32 valueLen | key | value
//   reply:   u8 status | u32 len | data
enum Op : uint8_t { kSet = 1, kGet = 2, kSetNx = 3 };
enum Status : uint8_t { kOk = 0, kMissing = 1, kExists = 2, kBadRequest = 3 };
constexpr uint32_t kMaxField = 64u << 20;  // a rendezvous value is a few KB; refuse anything absurd

std::string errnoText(int err) { return std::string(strerror(err)); }

int remainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(left, 1 << 30)));
}

void setNonBlocking(int fd, bool on) {
  int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
}

// Waits for `events` on fd until the deadline; throws on timeout.
void waitFd(int fd, short events, Clock::time_point deadline, const char* what) {
  for (;;) {
    struct pollfd p = {fd, events, 0};
    int rc = poll(&p, 1, remainingMs(deadline));
    if (rc > 0) return;
    if (rc == 0) throw std::runtime_error(std::string("timed out ") + what);
    if (errno != EINTR) throw std::runtime_error(std::string("poll failed ") + what + ": " + errnoText(errno));
  }
}

void sendAll(int fd, const char* buf, size_t len, Clock::time_point deadline) {
  while (len > 0) {
    ssize_t n = ::send(fd, buf, len, MSG_NOSIGNAL);
    if (n > 0) {
      buf += n;
      len -= static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      waitFd(fd, POLLOUT, deadline, "sending to the store");
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      throw std::runtime_error("send failed: " + errnoText(errno));
    }
  }
}

void recvAll(int fd, char* buf, size_t len, Clock::time_point deadline) {
  while (len > 0) {
    ssize_t n = ::recv(fd, buf, len, 0);
    if (n > 0) {
      buf += n;
      len -= static_cast<size_t>(n);
    } else if (n == 0) {
      throw std::runtime_error("connection closed by peer");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      waitFd(fd, POLLIN, deadline, "waiting for the store's reply");
    } else if (errno != EINTR) {
      throw std::runtime_error("recv failed: " + errnoText(errno));
    }
  }
}

void putU32(std::vector<char>& out, uint32_t v) {
  uint32_t be = htonl(v);
  const char* p = reinterpret_cast<const char*>(&be);
  out.insert(out.end(), p, p + 4);
}

uint32_t getU32(const char* p) {
  uint32_t be;
  memcpy(&be, p, 4);
  return ntohl(be);
}

std::vector<char> frame(uint8_t head, const std::string& key, const std::vector<char>& value, bool withKey) {
  std::vector<char> out;
  out.reserve(9 + key.size() + value.size());
  out.push_back(static_cast<char>(head));
  if (withKey) putU32(out, static_cast<uint32_t>(key.size()));
  putU32(out, static_cast<uint32_t>(value.size()));
  if (withKey) out.insert(out.end(), key.begin(), key.end());
  out.insert(out.end(), value.begin(), value.end());
  return out;
}

// Tries one address until `deadline`; returns the fd or -1 with `err` set.
int connectOne(const struct addrinfo* ai, Clock::time_point deadline, std::string* err) {
  int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) {
    *err = "socket: " + errnoText(errno);
    return -1;
  }
  setNonBlocking(fd, true);
  int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
  if (rc < 0 && errno == EINPROGRESS) {
    struct pollfd p = {fd, POLLOUT, 0};
    int prc = poll(&p, 1, std::min(remainingMs(deadline), 5000));
    if (prc <= 0) {
      *err = prc == 0 ? "connect timed out" : "poll: " + errnoText(errno);
      ::close(fd);
      return -1;
    }
    int soErr = 0;
    socklen_t len = sizeof(soErr);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soErr, &len);
    rc = soErr == 0 ? 0 : -1;
    errno = soErr;
  }
  if (rc < 0) {
    *err = errnoText(errno);
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Server

namespace {

int listenOn(int family, int port, std::string* err) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errnoText(errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc;
  if (family == AF_INET6) {
    int zero = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    struct sockaddr_in6 a = {};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    rc = ::bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof(a));
  } else {
    struct sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons(static_cast<uint16_t>(port));
    rc = ::bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof(a));
  }
  if (rc < 0 || ::listen(fd, 128) < 0) {
    *err = errnoText(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

struct Conn {
  int fd;
  std::vector<char> in;
};

}  // namespace

TcpStoreServer::TcpStoreServer(int port) {
  std::string err6, err4;
  listenFd_ = listenOn(AF_INET6, port, &err6);
  if (listenFd_ < 0) listenFd_ = listenOn(AF_INET, port, &err4);
  if (listenFd_ < 0) {
    throw std::runtime_error("rendezvous: rank 0 cannot host the TCP store on port " + std::to_string(port) + ": " +
                             err4 + " (is another job using --distributed-port / MASTER_PORT " +
                             std::to_string(port) + "?)");
  }
  setNonBlocking(listenFd_, true);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    ::close(listenFd_);
    throw std::runtime_error("rendezvous: pipe failed: " + errnoText(errno));
  }
  wakeRead_ = fds[0];
  wakeWrite_ = fds[1];
  thread_ = std::thread([this] { run(); });
}

TcpStoreServer::~TcpStoreServer() { stop(); }

void TcpStoreServer::stop() {
  if (thread_.joinable()) {
    char c = 1;
    ssize_t ignored = ::write(wakeWrite_, &c, 1);
    (void)ignored;
    thread_.join();
  }
  if (listenFd_ >= 0) ::close(listenFd_);
  if (wakeRead_ >= 0) ::close(wakeRead_);
  if (wakeWrite_ >= 0) ::close(wakeWrite_);
  listenFd_ = wakeRead_ = wakeWrite_ = -1;
}

void TcpStoreServer::run() {
  std::vector<Conn> conns;
  for (;;) {
    std::vector<struct pollfd> pfds;
    pfds.push_back({wakeRead_, POLLIN, 0});
    pfds.push_back({listenFd_, POLLIN, 0});
    for (auto& c : conns) pfds.push_back({c.fd, POLLIN, 0});
    int rc = poll(pfds.data(), pfds.size(), -1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0 || (pfds[0].revents & POLLIN)) break;
    if (pfds[1].revents & POLLIN) {
      int fd;
      while ((fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conns.push_back({fd, {}});
      }
    }
    std::vector<int> dead;
    for (size_t i = 0; i < conns.size() && i + 2 < pfds.size(); i++) {
      if (!pfds[i + 2].revents) continue;
      Conn& c = conns[i];
      char buf[65536];
      ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        dead.push_back(c.fd);
        continue;
      }
      if (n > 0) c.in.insert(c.in.end(), buf, buf + n);
      // Serve every complete request in the buffer.
      try {
        for (;;) {
          if (c.in.size() < 9) break;
          uint8_t op = static_cast<uint8_t>(c.in[0]);
          uint32_t klen = getU32(&c.in[1]);
          uint32_t vlen = getU32(&c.in[5]);
          if (klen > kMaxField || vlen > kMaxField) throw std::runtime_error("oversized request");
          if (c.in.size() < 9 + size_t(klen) + vlen) break;
          std::string key(&c.in[9], klen);
          std::vector<char> value(c.in.begin() + 9 + klen, c.in.begin() + 9 + klen + vlen);
          c.in.erase(c.in.begin(), c.in.begin() + 9 + klen + vlen);
          std::vector<char> reply;
          auto it = data_.find(key);
          if (op == kSet) {
            data_[key] = std::move(value);
            reply = frame(kOk, "", {}, false);
          } else if (op == kGet) {
            reply = it == data_.end() ? frame(kMissing, "", {}, false) : frame(kOk, "", it->second, false);
          } else if (op == kSetNx) {
            if (it == data_.end()) {
              data_[key] = std::move(value);
              reply = frame(kOk, "", {}, false);
            } else {
              reply = frame(kExists, "", it->second, false);
            }
          } else {
            reply = frame(kBadRequest, "", {}, false);
          }
          sendAll(c.fd, reply.data(), reply.size(), Clock::now() + std::chrono::seconds(5));
        }
      } catch (const std::exception&) {
        dead.push_back(c.fd);  // a misbehaving or vanished client: drop it, keep serving the others
      }
    }
    for (int fd : dead) {
      ::close(fd);
      conns.erase(std::remove_if(conns.begin(), conns.end(), [fd](const Conn& c) { return c.fd == fd; }),
                  conns.end());
    }
  }
  for (auto& c : conns) ::close(c.fd);
}

// ---------------------------------------------------------------------------------------------------------------
// Client

TcpStoreClient::TcpStoreClient(const std::string& host, int port, Clock::time_point deadline,
                               std::chrono::milliseconds opTimeout)
    : opTimeout_(opTimeout) {
  const bool v6 = host.find(':') != std::string::npos;
  endpoint_ = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  const auto start = Clock::now();
  std::string lastError = "no attempt made";
  auto backoff = std::chrono::milliseconds(50);
  int attempts = 0;
  for (;;) {
    attempts++;
    struct addrinfo hints = {};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo* res = nullptr;
    int gai = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
    if (gai != 0) {
      lastError = std::string("cannot resolve host: ") + gai_strerror(gai);
    } else {
      for (struct addrinfo* ai = res; ai != nullptr && fd_ < 0; ai = ai->ai_next) {
        fd_ = connectOne(ai, deadline, &lastError);
      }
      freeaddrinfo(res);
      if (fd_ >= 0) return;
    }
    auto now = Clock::now();
    if (now >= deadline) break;
    std::this_thread::sleep_for(std::min<Clock::duration>(backoff, deadline - now));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  std::ostringstream msg;
  msg << "rendezvous: could not reach the TCP store of rank 0 at " << endpoint_ << " within " << waited << " ms ("
      << attempts << " attempts; last error: " << lastError
      << "). Check MASTER_ADDR/--distributed-master and MASTER_PORT/--distributed-port, and that rank 0 is running.";
  throw std::runtime_error(msg.str());
}

TcpStoreClient::~TcpStoreClient() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<char> TcpStoreClient::request(uint8_t op, const std::string& key, const std::vector<char>& data,
                                          uint8_t* status) {
  if (fd_ < 0) throw std::runtime_error("rendezvous: the connection to the store at " + endpoint_ + " is closed");
  auto deadline = Clock::now() + opTimeout_;
  try {
    auto req = frame(op, key, data, true);
    sendAll(fd_, req.data(), req.size(), deadline);
    char head[5];
    recvAll(fd_, head, 5, deadline);
    *status = static_cast<uint8_t>(head[0]);
    uint32_t len = getU32(head + 1);
    if (len > kMaxField || *status > kBadRequest) {
      throw std::runtime_error("the reply is not from a rendezvous store (is something else listening there?)");
    }
    std::vector<char> out(len);
    if (len > 0) recvAll(fd_, out.data(), len, deadline);
    return out;
  } catch (const std::exception& e) {
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("rendezvous: store at " + endpoint_ + " failed on key '" + key + "': " + e.what());
  }
}

void TcpStoreClient::set(const std::string& key, const std::vector<char>& data) {
  uint8_t status;
  request(kSet, key, data, &status);
}

bool TcpStoreClient::tryGet(const std::string& key, std::vector<char>* out) {
  uint8_t status;
  auto value = request(kGet, key, {}, &status);
  if (status != kOk) return false;
  *out = std::move(value);
  return true;
}

bool TcpStoreClient::setIfAbsent(const std::string& key, const std::vector<char>& data, std::vector<char>* existing) {
  uint8_t status;
  auto value = request(kSetNx, key, data, &status);
  if (status == kOk) return true;
  *existing = std::move(value);
  return false;
}

std::vector<char> TcpStoreClient::get(const std::string& key) {
  wait({key}, opTimeout_);
  std::vector<char> out;
  if (!tryGet(key, &out)) throw std::runtime_error("rendezvous: key '" + key + "' vanished from the store");
  return out;
}

void TcpStoreClient::wait(const std::vector<std::string>& keys) { wait(keys, opTimeout_); }

void TcpStoreClient::wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) {
  const auto deadline = Clock::now() + timeout;
  auto pause = std::chrono::milliseconds(5);
  std::vector<std::string> missing = keys;
  for (;;) {
    std::vector<std::string> still;
    std::vector<char> ignored;
    for (const auto& k : missing) {
      if (!tryGet(k, &ignored)) still.push_back(k);
    }
    missing.swap(still);
    if (missing.empty()) return;
    auto now = Clock::now();
    if (now >= deadline) break;
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
  std::ostringstream msg;
  msg << "rendezvous: timed out after " << timeout.count() << " ms waiting in the store at " << endpoint_ << " for";
  for (const auto& k : missing) {
    // Gloo's full mesh publishes each rank's address under its rank number.
    const bool rankKey = !k.empty() && k.find_first_not_of("0123456789") == std::string::npos;
    if (rankKey) msg << " rank " << k << " (key '" << k << "')"; else msg << " '" << k << "'";
  }
  msg << ": a replica never joined or never published its address";
  throw std::runtime_error(msg.str());
}

}  // namespace simclr
