// uplinkd's native addon: syscalls only, no decisions. Errors come back as
// {errno, code, syscall} objects; everything else stays in TypeScript.
//
// flock, peerCredentials: the control socket's lock and its clients' identity.
//
// tcpConnect: a TCP handshake from a socket bound to one interface (SO_BINDTODEVICE), driven
// by the event loop with a timeout; it reports the handshake time or the errno.
//
// IcmpSocket: a raw ICMP or ICMPv6 socket bound to one interface (SO_BINDTODEVICE) for the
// heartbeats: send() is one sendto(2) at once, and what arrives is read from the event loop in
// batches. The kernel's filter (ICMP_FILTER, ICMP6_FILTER) passes echo replies only, so the
// other ICMP the interface receives wakes nothing.
//
// NetlinkListener: a netlink socket (NETLINK_ROUTE unless told otherwise, NETLINK_NETFILTER
// for nftables events and requests) subscribed to multicast groups, read from the
// event loop (uv_poll) without blocking; send() writes one request to the kernel. The netlink npm package aborts the process when
// recvmsg fails (ENOBUFS after an overflow): here an overflow is reported as an error
// object and the socket keeps working, so the caller can resynchronise (netlink(7)).
#include <napi.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

namespace {

Napi::Object ErrnoObject(Napi::Env env, int err, const char* syscall) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("errno", Napi::Number::New(env, err));
  const char* name = strerrorname_np(err);
  o.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  o.Set("syscall", Napi::String::New(env, syscall));
  o.Set("message", Napi::String::New(env, std::string(syscall) + ": " + strerror(err)));
  return o;
}

// Throws an Error carrying errno, code and syscall: a constructor's failure.
void ThrowErrno(Napi::Env env, int err, const char* syscall) {
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  const char* name = strerrorname_np(err);
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
}

// Stops a socket's polling and closes it; libuv frees the handle once it has closed it.
void StopPolling(uv_poll_t*& poll, int& fd, Napi::AsyncContext*& context) {
  if (poll) {
    uv_poll_stop(poll);
    uv_close(reinterpret_cast<uv_handle_t*>(poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll = nullptr;
  }
  if (fd >= 0) close(fd);
  fd = -1;
  delete context;
  context = nullptr;
}

class IcmpSocket : public Napi::ObjectWrap<IcmpSocket> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "IcmpSocket", {InstanceMethod("close", &IcmpSocket::Close), InstanceMethod("send", &IcmpSocket::Send)});
  }

  // new IcmpSocket(family 4|6, ifname, onPackets(buffers[], sources[]))
  explicit IcmpSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<IcmpSocket>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsFunction()) {
      Napi::TypeError::New(env, "IcmpSocket(family, ifname, onPackets)").ThrowAsJavaScriptException();
      return;
    }
    family_ = info[0].As<Napi::Number>().Int32Value() == 6 ? AF_INET6 : AF_INET;
    std::string ifname = info[1].As<Napi::String>();
    onPackets_ = Napi::Persistent(info[2].As<Napi::Function>());
    int fd = socket(family_, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, family_ == AF_INET ? static_cast<int>(IPPROTO_ICMP) : static_cast<int>(IPPROTO_ICMPV6));
    if (fd < 0) { ThrowErrno(env, errno, "socket"); return; }
    int rc;
    if (family_ == AF_INET) {
      // include/uapi/linux/icmp.h: the bits set are the types dropped.
      icmp_filter filter{~(1U << ICMP_ECHOREPLY)};
      rc = setsockopt(fd, SOL_RAW, ICMP_FILTER, &filter, sizeof filter);
    } else {
      // RFC 3542 §3.2.
      icmp6_filter filter{};
      ICMP6_FILTER_SETBLOCKALL(&filter);
      ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filter);
      rc = setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter);
    }
    if (rc < 0) { int err = errno; close(fd); ThrowErrno(env, err, "setsockopt"); return; }
    // ENODEV when the interface is missing.
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(), static_cast<socklen_t>(ifname.size() + 1)) < 0) {
      int err = errno;
      close(fd);
      ThrowErrno(env, err, "setsockopt");
      return;
    }
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    poll_->data = this;
    if (uv_poll_init(loop, poll_, fd) != 0) {
      delete poll_;
      poll_ = nullptr;
      close(fd);
      ThrowErrno(env, EINVAL, "uv_poll_init");
      return;
    }
    fd_ = fd;
    uv_poll_start(poll_, UV_READABLE, OnReadable);
    context_ = new Napi::AsyncContext(env, "uplinkd:icmp");
    Ref();  // alive while polling, until close()
  }

  ~IcmpSocket() override { Stop(); }

 private:
  static void OnReadable(uv_poll_t* handle, int /*status*/, int /*events*/) { static_cast<IcmpSocket*>(handle->data)->Drain(); }

  // Reads what is queued (at most 64 packets per wakeup), then calls back once. A receive
  // error (none is expected on an unconnected raw socket without IP_RECVERR) ends the batch:
  // the heartbeats waiting for an answer time out.
  void Drain() {
    if (fd_ < 0) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Array buffers = Napi::Array::New(env);
    Napi::Array sources = Napi::Array::New(env);
    uint32_t count = 0;
    for (int i = 0; i < 64; i++) {
      sockaddr_storage from{};
      socklen_t fromlen = sizeof from;
      ssize_t n = recvfrom(fd_, buf_, sizeof buf_, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &fromlen);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      char text[INET6_ADDRSTRLEN] = "";
      const void* addr = from.ss_family == AF_INET6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr)
                                                      : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&from)->sin_addr);
      inet_ntop(from.ss_family, addr, text, sizeof text);
      buffers.Set(count, Napi::Buffer<char>::Copy(env, buf_, static_cast<size_t>(n)));
      sources.Set(count, Napi::String::New(env, text));
      count++;
    }
    if (count > 0) onPackets_.MakeCallback(Value(), {buffers, sources}, *context_);
  }

  void Stop() { StopPolling(poll_, fd_, context_); }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    bool wasOpen = poll_ != nullptr;
    Stop();
    if (wasOpen) Unref();
    return info.Env().Undefined();
  }

  // send(address, buffer): one datagram, without waiting (a full send buffer is EAGAIN); an
  // errno object when sendto(2) fails (ENODEV, ENETUNREACH, ...).
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsBuffer()) {
      Napi::TypeError::New(env, "send(address, buffer)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (fd_ < 0) return ErrnoObject(env, EBADF, "sendto");
    std::string address = info[0].As<Napi::String>();
    Napi::Buffer<char> b = info[1].As<Napi::Buffer<char>>();
    sockaddr_storage to{};
    socklen_t tolen;
    if (family_ == AF_INET) {
      auto* v4 = reinterpret_cast<sockaddr_in*>(&to);
      v4->sin_family = AF_INET;
      if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) != 1) return ErrnoObject(env, EINVAL, "inet_pton");
      tolen = sizeof *v4;
    } else {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&to);
      v6->sin6_family = AF_INET6;
      if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) != 1) return ErrnoObject(env, EINVAL, "inet_pton");
      tolen = sizeof *v6;
    }
    ssize_t n;
    do {
      n = sendto(fd_, b.Data(), b.Length(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to), tolen);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return ErrnoObject(env, errno, "sendto");
    return env.Undefined();
  }

  int fd_ = -1;
  int family_ = AF_INET;
  uv_poll_t* poll_ = nullptr;
  Napi::AsyncContext* context_ = nullptr;
  Napi::FunctionReference onPackets_;
  char buf_[2048];
};

class NetlinkListener : public Napi::ObjectWrap<NetlinkListener> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NetlinkListener",
                       {InstanceMethod("close", &NetlinkListener::Close), InstanceMethod("portId", &NetlinkListener::PortId),
                        InstanceMethod("send", &NetlinkListener::Send), InstanceMethod("drain", &NetlinkListener::DrainNow)});
  }

  // new NetlinkListener(groups, rcvbuf, onMessages(buffers[]), onError(err), protocol = NETLINK_ROUTE, perWake = 256, strictDumps = false)
  explicit NetlinkListener(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetlinkListener>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsFunction() || !info[3].IsFunction()) {
      Napi::TypeError::New(env, "NetlinkListener(groups, rcvbuf, onMessages, onError)").ThrowAsJavaScriptException();
      return;
    }
    uint32_t groups = info[0].As<Napi::Number>().Uint32Value();
    int rcvbuf = info[1].As<Napi::Number>().Int32Value();
    onMessages_ = Napi::Persistent(info[2].As<Napi::Function>());
    onError_ = Napi::Persistent(info[3].As<Napi::Function>());
    int protocol = info.Length() > 4 && info[4].IsNumber() ? info[4].As<Napi::Number>().Int32Value() : NETLINK_ROUTE;
    // A dump of a big table (conntrack) comes as thousands of datagrams: a few per wakeup
    // let timers and other sockets run between them (the kernel sends more as we read).
    if (info.Length() > 5 && info[5].IsNumber()) perWake_ = std::max(1, info[5].As<Napi::Number>().Int32Value());

    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd_ < 0) { Fail(env, "socket"); return; }
    // SO_RCVBUF stops at net.core.rmem_max; with CAP_NET_ADMIN, SO_RCVBUFFORCE goes past it
    // (socket(7)), which a burst of conntrack events needs.
    if (rcvbuf > 0 && setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0 &&
        setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0) {
      Fail(env, "setsockopt");
      return;
    }
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = groups;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) { Fail(env, "bind"); return; }
    // Strict checking makes the kernel honour a dump request's filters (a route dump of one
    // table: ip_valid_fib_dump_req, net/ipv4/fib_frontend.c; Linux 4.20). A kernel without it
    // dumps everything, which the caller filters anyway: its refusal is not an error.
    if (info.Length() > 6 && info[6].ToBoolean().Value()) {
      int one = 1;
      setsockopt(fd_, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
    }

    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    poll_->data = this;
    if (uv_poll_init(loop, poll_, fd_) != 0) {
      delete poll_;
      poll_ = nullptr;
      { Fail(env, "uv_poll_init"); return; }
    }
    uv_poll_start(poll_, UV_READABLE, OnReadable);
    context_ = new Napi::AsyncContext(env, "uplinkd:netlink");
    Ref();  // alive while polling, until close()
  }

  ~NetlinkListener() override { Stop(); }

 private:
  void Fail(Napi::Env env, const char* syscall) {
    int err = errno;
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    ThrowErrno(env, err, syscall);
  }

  static void OnReadable(uv_poll_t* handle, int status, int /*events*/) {
    static_cast<NetlinkListener*>(handle->data)->Drain(status);
  }

  // Reads what is queued (a bounded number of datagrams per wakeup), then calls back once.
  void Drain(int status) {
    if (fd_ < 0) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    std::vector<Napi::Value> buffers;
    int err = 0;
    const char* syscall = "recv";
    // libuv reports EPOLLERR as UV_EBADF and stops the handle; on a netlink socket that
    // error is the pending ENOBUFS, which the recv below returns (and clears). Restart it.
    if (status < 0 && poll_) uv_poll_start(poll_, UV_READABLE, OnReadable);
    for (int i = 0; i < perWake_ && err == 0; i++) {
      ssize_t n = recv(fd_, buf_, sizeof buf_, MSG_DONTWAIT);
      if (n > 0) {
        buffers.push_back(Napi::Buffer<char>::Copy(env, buf_, static_cast<size_t>(n)));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        err = n < 0 ? errno : EPIPE;
      }
    }
    Napi::Array arr = Napi::Array::New(env, buffers.size());
    for (size_t i = 0; i < buffers.size(); i++) arr.Set(i, buffers[i]);
    Napi::Object self = Value();
    if (!buffers.empty()) onMessages_.MakeCallback(self, {arr}, *context_);
    // ENOBUFS: the kernel dropped messages for us; the socket stays usable (netlink(7)).
    if (err != 0 && fd_ >= 0) onError_.MakeCallback(self, {ErrnoObject(env, err, syscall)}, *context_);
  }

  void Stop() { StopPolling(poll_, fd_, context_); }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    bool wasOpen = poll_ != nullptr;
    Stop();
    if (wasOpen) Unref();
    return info.Env().Undefined();
  }

  Napi::Value PortId(const Napi::CallbackInfo& info) {
    sockaddr_nl addr{};
    socklen_t len = sizeof addr;
    if (fd_ < 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) < 0) return info.Env().Null();
    return Napi::Number::New(info.Env(), addr.nl_pid);
  }

  // drain(): reads what is queued now, as a wakeup would, and calls back before returning. The
  // kernel answers a small dump within the sendto(2) that asked for it (netlink_dump_start),
  // so reading at once saves the loop a wakeup.
  Napi::Value DrainNow(const Napi::CallbackInfo& info) {
    Drain(0);
    return info.Env().Undefined();
  }

  // send(buffer): one datagram to the kernel (port 0); an errno object when it fails.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsBuffer()) {
      Napi::TypeError::New(env, "send(buffer)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (fd_ < 0) return ErrnoObject(env, EBADF, "send");
    Napi::Buffer<char> b = info[0].As<Napi::Buffer<char>>();
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    ssize_t n;
    do {
      n = sendto(fd_, b.Data(), b.Length(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return ErrnoObject(env, errno, "send");
    return env.Undefined();
  }

  int fd_ = -1;
  int perWake_ = 256;
  uv_poll_t* poll_ = nullptr;
  Napi::AsyncContext* context_ = nullptr;
  Napi::FunctionReference onMessages_;
  Napi::FunctionReference onError_;
  char buf_[65536];
};

double NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

Napi::Object ConnectOk(Napi::Env env, double rttMs) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", Napi::Boolean::New(env, true));
  o.Set("rttMs", Napi::Number::New(env, rttMs));
  return o;
}

Napi::Object ConnectFailed(Napi::Env env, int err, const char* syscall) {
  Napi::Object o = ErrnoObject(env, err, syscall);
  o.Set("ok", Napi::Boolean::New(env, false));
  return o;
}

// One handshake in flight: a poll for writability and a timer, whichever fires first.
struct TcpProbe {
  int fd = -1;
  double startMs = 0;
  uv_poll_t poll{};
  uv_timer_t timer{};
  int open_handles = 0;
  bool done = false;
  Napi::FunctionReference callback;
  Napi::AsyncContext* context = nullptr;
  napi_env env = nullptr;

  static void OnClosed(uv_handle_t* h) {
    auto* p = static_cast<TcpProbe*>(h->data);
    if (--p->open_handles == 0) {
      delete p->context;
      delete p;
    }
  }

  // errno 0 is a completed handshake.
  void Finish(int err, const char* syscall) {
    if (done) return;
    done = true;
    double rtt = NowMs() - startMs;
    uv_poll_stop(&poll);
    uv_timer_stop(&timer);
    // RST rather than FIN on close: a heartbeat must not leave TIME_WAIT sockets behind.
    linger lg{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    Napi::Env e(env);
    {
      Napi::HandleScope scope(e);
      Napi::Object result = err == 0 ? ConnectOk(e, rtt) : ConnectFailed(e, err, syscall);
      callback.MakeCallback(e.Global(), {result}, *context);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&poll), OnClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), OnClosed);
    close(fd);
  }
};

// tcpConnect(ifname, address, port, timeoutMs, callback(result)): returns a result object
// at once when the attempt fails before any packet is sent, else undefined.
Napi::Value TcpConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsString() || !info[1].IsString() || !info[2].IsNumber() || !info[3].IsNumber() ||
      !info[4].IsFunction()) {
    Napi::TypeError::New(env, "tcpConnect(ifname, address, port, timeoutMs, callback)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string ifname = info[0].As<Napi::String>();
  std::string address = info[1].As<Napi::String>();
  int port = info[2].As<Napi::Number>().Int32Value();
  double timeoutMs = info[3].As<Napi::Number>().DoubleValue();

  sockaddr_storage ss{};
  socklen_t sslen = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    sslen = sizeof *v4;
  } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    sslen = sizeof *v6;
  } else {
    return ConnectFailed(env, EINVAL, "inet_pton");
  }

  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ConnectFailed(env, errno, "socket");
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(), static_cast<socklen_t>(ifname.size() + 1)) < 0) {
    int err = errno;
    close(fd);
    return ConnectFailed(env, err, "setsockopt");
  }
  double start = NowMs();
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), sslen) == 0) {
    double rtt = NowMs() - start;
    linger lg{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    return ConnectOk(env, rtt);
  }
  if (errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    return ConnectFailed(env, err, "connect");
  }

  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto* p = new TcpProbe();
  p->fd = fd;
  p->startMs = start;
  p->env = env;
  p->callback = Napi::Persistent(info[4].As<Napi::Function>());
  p->context = new Napi::AsyncContext(env, "uplinkd:tcp");
  p->poll.data = p;
  p->timer.data = p;
  uv_poll_init(loop, &p->poll, fd);
  uv_timer_init(loop, &p->timer);
  p->open_handles = 2;
  // Writable (or an error) means the handshake ended; SO_ERROR says how (connect(2)).
  uv_poll_start(&p->poll, UV_WRITABLE, [](uv_poll_t* h, int, int) {
    auto* probe = static_cast<TcpProbe*>(h->data);
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(probe->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    probe->Finish(err, "connect");
  });
  uv_timer_start(&p->timer, [](uv_timer_t* h) { static_cast<TcpProbe*>(h->data)->Finish(ETIMEDOUT, "connect"); },
                 static_cast<uint64_t>(timeoutMs > 0 ? timeoutMs : 1), 0);
  return env.Undefined();
}

// The one argument of flock() and peerCredentials(): a file descriptor. False (a TypeError
// thrown, naming the call) when it is not a number.
static bool FdArgument(const Napi::CallbackInfo& info, const char* usage, int* fd) {
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(info.Env(), usage).ThrowAsJavaScriptException();
    return false;
  }
  *fd = info[0].As<Napi::Number>().Int32Value();
  return true;
}

// flock(fd): an exclusive lock on an open file, without waiting; the kernel drops it when the
// process dies, however it dies. Returns an errno object when another process holds it.
Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArgument(info, "flock(fd)", &fd)) return env.Undefined();
  int rc;
  do {
    rc = flock(fd, LOCK_EX | LOCK_NB);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return ErrnoObject(env, errno, "flock");
  return env.Undefined();
}

// peerCredentials(fd): who is at the other end of a Unix socket (SO_PEERCRED, socket(7)).
Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArgument(info, "peerCredentials(fd)", &fd)) return env.Undefined();
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return ErrnoObject(env, errno, "getsockopt");
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", Napi::Number::New(env, cred.pid));
  o.Set("uid", Napi::Number::New(env, cred.uid));
  o.Set("gid", Napi::Number::New(env, cred.gid));
  // The peer's supplementary groups as they were at connect (SO_PEERGROUPS, Linux 4.13):
  // unlike /proc/PID/status, readable under systemd's ProtectProc=invisible.
  std::vector<gid_t> groups(64);
  socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  int rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen);
  if (rc < 0 && errno == ERANGE) {
    groups.resize(glen / sizeof(gid_t) + 1);
    glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen);
  }
  if (rc == 0) {
    Napi::Array list = Napi::Array::New(env);
    for (size_t i = 0; i < glen / sizeof(gid_t); i++) list.Set(static_cast<uint32_t>(i), Napi::Number::New(env, groups[i]));
    o.Set("groups", list);
  }
  return o;
}

// setCloseOnExec(fd): FD_CLOEXEC on a descriptor some library opened without it (raw-socket's
// sockets), so that a hook uplinkd runs does not inherit it. Returns an errno object on failure.
Napi::Value SetCloseOnExec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!FdArgument(info, "setCloseOnExec(fd)", &fd)) return env.Undefined();
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return ErrnoObject(env, errno, "fcntl");
  if (!(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) return ErrnoObject(env, errno, "fcntl");
  return env.Undefined();
}

// sendDatagram(path, data): one datagram to a Unix datagram socket (sd_notify's
// NOTIFY_SOCKET, sd_notify(3)); a path starting with '@' is in the abstract namespace
// (unix(7)). A new socket per call: notifications are rare. Returns an errno object on failure.
Napi::Value SendDatagram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsBuffer()) {
    Napi::TypeError::New(env, "sendDatagram(path, buffer)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Buffer<char> data = info[1].As<Napi::Buffer<char>>();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) return ErrnoObject(env, EINVAL, "sendto");
  memcpy(addr.sun_path, path.data(), path.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoObject(env, errno, "socket");
  ssize_t n;
  do {
    // Never wait on systemd: a full notify queue is an error (EAGAIN) to log, not a stall.
    n = sendto(fd, data.Data(), data.Length(), MSG_NOSIGNAL | MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&addr), len);
  } while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) return ErrnoObject(env, err, "sendto");
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("sendDatagram", Napi::Function::New(env, SendDatagram));
  exports.Set("flock", Napi::Function::New(env, Flock));
  exports.Set("peerCredentials", Napi::Function::New(env, PeerCredentials));
  exports.Set("setCloseOnExec", Napi::Function::New(env, SetCloseOnExec));
  exports.Set("NetlinkListener", NetlinkListener::Init(env));
  exports.Set("IcmpSocket", IcmpSocket::Init(env));
  exports.Set("tcpConnect", Napi::Function::New(env, TcpConnect));
  return exports;
}

}  // namespace

NODE_API_MODULE(uplinkd_native, Init)
