// uplinkd's native addon: syscalls only, no decisions. Errors come back as
// {errno, code, syscall} objects; everything else stays in TypeScript.
//
// NetlinkListener: a NETLINK_ROUTE socket subscribed to multicast groups, read from the
// event loop (uv_poll) without blocking. The netlink npm package aborts the process when
// recvmsg fails (ENOBUFS after an overflow): here an overflow is reported as an error
// object and the socket keeps working, so the caller can resynchronise (netlink(7)).
#include <napi.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <linux/netlink.h>
#include <sys/socket.h>
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

class NetlinkListener : public Napi::ObjectWrap<NetlinkListener> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NetlinkListener",
                       {InstanceMethod("close", &NetlinkListener::Close), InstanceMethod("portId", &NetlinkListener::PortId)});
  }

  // new NetlinkListener(groups: number, rcvbuf: number, onMessages(buffers[]), onError(err))
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

    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd_ < 0) { Fail(env, "socket"); return; }
    if (rcvbuf > 0 && setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0) { Fail(env, "setsockopt"); return; }
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = groups;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) { Fail(env, "bind"); return; }

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
    Napi::Error e = Napi::Error::New(env, std::string(syscall) + ": " + strerror(err));
    e.Set("errno", Napi::Number::New(env, err));
    const char* name = strerrorname_np(err);
    e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
    e.Set("syscall", Napi::String::New(env, syscall));
    e.ThrowAsJavaScriptException();
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
    for (int i = 0; i < 256 && err == 0; i++) {
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

  void Stop() {
    if (poll_) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    delete context_;
    context_ = nullptr;
  }

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

  int fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  Napi::AsyncContext* context_ = nullptr;
  Napi::FunctionReference onMessages_;
  Napi::FunctionReference onError_;
  char buf_[65536];
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NetlinkListener", NetlinkListener::Init(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(uplinkd_native, Init)
