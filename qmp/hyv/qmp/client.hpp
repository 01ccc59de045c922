// A QMP (QEMU Machine Protocol) client over a UNIX socket.
//
// One Client may be shared by several threads. Commands carry ids; whichever thread is waiting
// reads the socket and hands replies and events to their owners, so a reply never goes to the
// wrong caller and no event is lost while a command is in flight.
#pragma once

#include <hyv/result.hpp>
#include <hyv/unique_fd.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

namespace hyv::qmp {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

struct ClientOptions {
    std::string socket_path{};
    // Label for log lines, e.g. the VM name.
    std::string label{};
    Millis connect_timeout{5000};
    Millis command_timeout{10000};
    // Reconnect once, transparently, when a command finds the connection gone.
    bool auto_reconnect = true;
    // Oldest events are dropped beyond this, so an idle client cannot grow without bound.
    std::size_t max_queued_events = 4096;
};

// What QEMU announced in its greeting.
struct ServerInfo {
    int major = 0;
    int minor = 0;
    int micro = 0;
    std::string package;
};

using EventPredicate = std::function<bool(const Json& event)>;

class Client {
public:
    explicit Client(ClientOptions options);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Connects, reads the greeting and negotiates capabilities. Closes an existing connection first.
    Result<ServerInfo> connect();
    void disconnect();
    // disconnect() + connect(); events queued so far are kept.
    Result<ServerInfo> reconnect();
    bool connected() const;
    ServerInfo server_info() const;

    // Runs a command and returns its "return" value. QEMU's errors come back as
    // Error{"qmp-<class>", "<command>: <desc>"}; transport problems as qmp-timeout,
    // qmp-disconnected, qmp-io, qmp-protocol.
    Result<Json> execute(const std::string& command, const Json& arguments = Json::object());
    Result<Json> execute(const std::string& command, const Json& arguments, Millis timeout);

    // Runs an HMP command through human-monitor-command and returns its text output.
    Result<std::string> human_monitor_command(const std::string& command_line);
    Result<std::string> human_monitor_command(const std::string& command_line, Millis timeout);

    // Removes and returns the oldest queued event named `name` (and accepted by `predicate`, if
    // given), waiting up to `timeout` for one to arrive. Fails with qmp-timeout.
    Result<Json> wait_for_event(const std::string& name, const EventPredicate& predicate, Millis timeout);
    Result<Json> wait_for_event(const std::string& name, Millis timeout);

    // Removes and returns every queued event (reads what is already on the socket first).
    std::deque<Json> take_events();

private:
    using Lock = std::unique_lock<std::mutex>;

    Result<ServerInfo> connect_locked(Lock& lock);
    void close_locked(Lock& lock, const std::string& reason);
    Result<void> send_locked(const Json& message, Clock::time_point deadline);
    // Reads the socket once (up to `deadline`) as the only reader and dispatches complete
    // messages. Temporarily releases `lock` while blocked in poll/read.
    Result<void> read_once(Lock& lock, Clock::time_point deadline);
    void dispatch_locked(Json message);
    // Waits until `ready()` holds, reading the socket when nobody else is.
    Result<void> wait_until(Lock& lock, Clock::time_point deadline, const std::function<bool()>& ready,
                            const std::string& what);
    Result<Json> await_greeting_locked(Lock& lock, Clock::time_point deadline);
    Result<Json> execute_locked(Lock& lock, const std::string& command, const Json& arguments, Millis timeout);
    Result<void> ensure_connected_locked(Lock& lock);

    ClientOptions options_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    UniqueFd fd_;
    // Bumped on every (dis)connect, so a reader that finishes after a reconnect can tell.
    std::uint64_t generation_ = 0;
    bool reader_active_ = false;
    std::string read_buffer_;
    std::string disconnect_reason_;
    std::deque<Json> events_;
    std::deque<Json> greetings_;
    std::map<std::string, Json> replies_;
    std::set<std::string> abandoned_ids_;
    std::uint64_t next_id_ = 1;
    ServerInfo server_info_;
};

// "qmp-GenericError" etc. for a QMP error object {"class": ..., "desc": ...}.
Error error_from_qmp(const std::string& command, const Json& error_object);

}  // namespace hyv::qmp
