#include <hyv/qmp/client.hpp>

#include "json_fields.hpp"
#include <hyv/error_codes.hpp>

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

namespace hyv::qmp {

namespace {

// Readers give up the socket this often, so disconnect() and other waiters never wait long.
constexpr Millis kReadSlice{100};
constexpr std::size_t kReadChunk = 64 * 1024;

int remaining_ms(Clock::time_point deadline, Millis cap)
{
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    left = std::clamp(left, Millis{0}, cap);
    return static_cast<int>(left.count());
}

std::string errno_text(int err)
{
    return std::strerror(err);
}

}  // namespace

Error error_from_qmp(const std::string& command, const Json& error_object)
{
    std::string error_class = "GenericError";
    std::string desc = "(no description)";
    if (error_object.is_object()) {
        if (auto it = error_object.find("class"); it != error_object.end() && it->is_string()) {
            error_class = it->get<std::string>();
        }
        if (auto it = error_object.find("desc"); it != error_object.end() && it->is_string()) {
            desc = it->get<std::string>();
        }
    }
    // The code carries QEMU's class as is (errc::qmp_device_not_found is one), so callers can match any.
    return make_error("qmp-" + error_class, "QEMU rejected " + command + ": " + desc);
}

Client::Client(ClientOptions options) : options_(std::move(options))
{
    if (options_.label.empty()) {
        options_.label = options_.socket_path;
    }
}

Client::~Client()
{
    disconnect();
}

bool Client::connected() const
{
    std::lock_guard lock(mutex_);
    return fd_.valid();
}

ServerInfo Client::server_info() const
{
    std::lock_guard lock(mutex_);
    return server_info_;
}

Result<ServerInfo> Client::connect()
{
    Lock lock(mutex_);
    return connect_locked(lock);
}

Result<ServerInfo> Client::reconnect()
{
    Lock lock(mutex_);
    return connect_locked(lock);
}

void Client::disconnect()
{
    Lock lock(mutex_);
    changed_.wait(lock, [this] { return !reader_active_; });
    close_locked(lock, "closed by this client");
}

void Client::close_locked(Lock&, const std::string& reason)
{
    if (!fd_.valid()) {
        return;
    }
    spdlog::debug("qmp[{}]: connection closed: {}", options_.label, reason);
    fd_.reset();
    ++generation_;
    read_buffer_.clear();
    abandoned_ids_.clear();
    disconnect_reason_ = reason;
    changed_.notify_all();
}

Result<ServerInfo> Client::connect_locked(Lock& lock)
{
    changed_.wait(lock, [this] { return !reader_active_; });
    close_locked(lock, "reconnecting");

    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (options_.socket_path.size() >= sizeof(address.sun_path)) {
        return make_error(errc::qmp_config, "QMP socket path is longer than " +
                                                std::to_string(sizeof(address.sun_path) - 1) +
                                                " bytes: " + options_.socket_path + "; use a shorter path");
    }
    std::memcpy(address.sun_path, options_.socket_path.c_str(), options_.socket_path.size() + 1);

    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) {
        return make_error(errc::qmp_io, "cannot create a UNIX socket: " + errno_text(errno));
    }
    // Connecting a UNIX stream socket never blocks for long: either the listener exists or not.
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 &&
        errno != EINPROGRESS) {
        const int err = errno;
        return make_error(errc::qmp_connect,
                          "cannot connect to QMP socket " + options_.socket_path + ": " + errno_text(err) +
                              "; is QEMU running with -qmp unix:" + options_.socket_path + ",server=on,wait=off?");
    }
    fd_ = std::move(fd);
    ++generation_;
    read_buffer_.clear();
    greetings_.clear();

    const auto deadline = Clock::now() + options_.connect_timeout;
    auto greeting = await_greeting_locked(lock, deadline);
    if (!greeting) {
        close_locked(lock, greeting.error().message);
        return greeting.error();
    }
    ServerInfo info;
    const Json& version = detail::object_field(detail::object_field(*greeting, "QMP"), "version");
    const Json& qemu_version = detail::object_field(version, "qemu");
    info.major = static_cast<int>(detail::int_field(qemu_version, "major"));
    info.minor = static_cast<int>(detail::int_field(qemu_version, "minor"));
    info.micro = static_cast<int>(detail::int_field(qemu_version, "micro"));
    info.package = detail::string_field(version, "package");
    auto negotiated = execute_locked(lock, "qmp_capabilities", Json::object(), options_.connect_timeout);
    if (!negotiated) {
        close_locked(lock, negotiated.error().message);
        return negotiated.error();
    }
    server_info_ = info;
    spdlog::debug("qmp[{}]: connected to QEMU {}.{}.{} ({})", options_.label, info.major, info.minor, info.micro,
                  info.package);
    return info;
}

Result<Json> Client::await_greeting_locked(Lock& lock, Clock::time_point deadline)
{
    auto waited = wait_until(
        lock, deadline, [this] { return !greetings_.empty(); }, "the QMP greeting");
    if (!waited) {
        if (waited.error().code == errc::qmp_timeout) {
            return make_error(errc::qmp_timeout, "no QMP greeting from " + options_.socket_path + " within " +
                                                     std::to_string(options_.connect_timeout.count()) +
                                                     " ms; another client may hold this QMP socket (QEMU serves one "
                                                     "at a time) or QEMU is stuck");
        }
        return waited.error();
    }
    Json greeting = std::move(greetings_.front());
    greetings_.pop_front();
    return greeting;
}

Result<void> Client::ensure_connected_locked(Lock& lock)
{
    if (fd_.valid()) {
        return {};
    }
    if (!options_.auto_reconnect) {
        return make_error(errc::qmp_disconnected, "QMP connection to " + options_.socket_path + " is closed (" +
                                                      disconnect_reason_ + "); call connect() first");
    }
    auto connected = connect_locked(lock);
    if (!connected) {
        return connected.error();
    }
    return {};
}

Result<void> Client::send_locked(const Json& message, Clock::time_point deadline)
{
    const std::string line = message.dump() + "\n";
    std::size_t sent = 0;
    while (sent < line.size()) {
        const ssize_t n = ::send(fd_.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (Clock::now() >= deadline) {
                return make_error(errc::qmp_timeout, "QEMU did not accept a QMP command on " + options_.socket_path +
                                                         " in time; QEMU is not reading its monitor");
            }
            pollfd pfd{fd_.get(), POLLOUT, 0};
            (void)::poll(&pfd, 1, remaining_ms(deadline, kReadSlice));
            continue;
        }
        return make_error(errc::qmp_disconnected,
                          "cannot write to QMP socket " + options_.socket_path + ": " + errno_text(errno));
    }
    return {};
}

Result<void> Client::read_once(Lock& lock, Clock::time_point deadline)
{
    reader_active_ = true;
    const int fd = fd_.get();
    lock.unlock();

    std::array<char, kReadChunk> chunk{};
    ssize_t n = -1;
    int read_errno = 0;
    bool timed_out = false;
    pollfd pfd{fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, remaining_ms(deadline, kReadSlice));
    if (ready < 0) {
        read_errno = errno;
        timed_out = read_errno == EINTR;
    } else if (ready == 0) {
        timed_out = true;
    } else {
        n = ::read(fd, chunk.data(), chunk.size());
        read_errno = n < 0 ? errno : 0;
        timed_out = n < 0 && (read_errno == EAGAIN || read_errno == EINTR);
    }

    lock.lock();
    reader_active_ = false;
    changed_.notify_all();
    if (timed_out) {
        return {};
    }
    if (n <= 0) {
        const std::string reason = n == 0 ? "QEMU closed the QMP socket" : "read failed: " + errno_text(read_errno);
        close_locked(lock, reason);
        return make_error(errc::qmp_disconnected, "QMP connection to " + options_.socket_path + " lost (" + reason +
                                                      "); QEMU may have exited — reconnect when it is back");
    }
    read_buffer_.append(chunk.data(), static_cast<std::size_t>(n));
    std::size_t line_start = 0;
    for (std::size_t newline; (newline = read_buffer_.find('\n', line_start)) != std::string::npos;
         line_start = newline + 1) {
        std::string_view line(read_buffer_.data() + line_start, newline - line_start);
        if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
            continue;
        }
        Json message = Json::parse(line, nullptr, false);
        if (message.is_discarded() || !message.is_object()) {
            spdlog::warn("qmp[{}]: ignoring a line that is not a JSON object: {:.200}", options_.label, line);
            continue;
        }
        dispatch_locked(std::move(message));
    }
    read_buffer_.erase(0, line_start);
    return {};
}

void Client::dispatch_locked(Json message)
{
    if (message.contains("QMP")) {
        greetings_.push_back(std::move(message));
    } else if (message.contains("event")) {
        spdlog::debug("qmp[{}]: event {}", options_.label, message["event"].dump());
        events_.push_back(std::move(message));
        if (events_.size() > options_.max_queued_events) {
            spdlog::warn("qmp[{}]: event queue over {} entries, dropping the oldest ({})", options_.label,
                         options_.max_queued_events, detail::string_field(events_.front(), "event"));
            events_.pop_front();
        }
    } else if (auto id = message.find("id"); id != message.end() && id->is_string()) {
        const std::string key = id->get<std::string>();
        if (abandoned_ids_.erase(key) == 0) {
            replies_[key] = std::move(message);
        }
    } else if (message.contains("error")) {
        spdlog::warn("qmp[{}]: QEMU reported an error for no command id: {}", options_.label, message.dump());
    } else {
        spdlog::warn("qmp[{}]: ignoring unexpected QMP message: {:.200}", options_.label, message.dump());
    }
}

Result<void> Client::wait_until(Lock& lock, Clock::time_point deadline, const std::function<bool()>& ready,
                                const std::string& what)
{
    while (!ready()) {
        if (!fd_.valid()) {
            return make_error(errc::qmp_disconnected, "QMP connection to " + options_.socket_path +
                                                          " closed while waiting for " + what + " (" +
                                                          disconnect_reason_ + ")");
        }
        if (Clock::now() >= deadline) {
            return make_error(errc::qmp_timeout, "timed out waiting for " + what + " on " + options_.socket_path);
        }
        if (!reader_active_) {
            auto got = read_once(lock, deadline);
            if (!got) {
                if (ready()) {
                    break;
                }
                return got.error();
            }
        } else {
            changed_.wait_until(lock, deadline);
        }
    }
    return {};
}

Result<Json> Client::execute(const std::string& command, const Json& arguments)
{
    return execute(command, arguments, options_.command_timeout);
}

Result<Json> Client::execute(const std::string& command, const Json& arguments, Millis timeout)
{
    Lock lock(mutex_);
    if (auto connected = ensure_connected_locked(lock); !connected) {
        return connected.error();
    }
    return execute_locked(lock, command, arguments, timeout);
}

Result<Json> Client::execute_locked(Lock& lock, const std::string& command, const Json& arguments, Millis timeout)
{
    const std::string id = "hyv-" + std::to_string(next_id_++);
    Json message = {{"execute", command}, {"id", id}};
    if (!arguments.is_null() && !(arguments.is_object() && arguments.empty())) {
        message["arguments"] = arguments;
    }
    const auto deadline = Clock::now() + timeout;
    const auto generation = generation_;
    spdlog::debug("qmp[{}]: -> {} id={}", options_.label, command, id);
    if (auto sent = send_locked(message, deadline); !sent) {
        if (sent.error().code == errc::qmp_disconnected) {
            changed_.wait(lock, [this] { return !reader_active_; });
            close_locked(lock, sent.error().message);
        }
        return sent.error();
    }

    auto waited = wait_until(
        lock, deadline, [&] { return replies_.count(id) != 0 || generation_ != generation; },
        "the reply to " + command);
    auto reply = replies_.find(id);
    if (reply == replies_.end()) {
        if (waited && generation_ != generation) {
            return make_error(errc::qmp_disconnected, "QMP connection to " + options_.socket_path + " closed before " +
                                                          command + " was answered (" + disconnect_reason_ +
                                                          "); it may or may not have run");
        }
        if (!waited && waited.error().code == errc::qmp_timeout) {
            abandoned_ids_.insert(id);
            return make_error(errc::qmp_timeout, "no reply to " + command + " within " +
                                                     std::to_string(timeout.count()) + " ms from " +
                                                     options_.socket_path + "; QEMU is busy or hung");
        }
        return waited.error();
    }
    Json response = std::move(reply->second);
    replies_.erase(reply);
    if (auto error = response.find("error"); error != response.end()) {
        spdlog::debug("qmp[{}]: <- {} id={} error {}", options_.label, command, id, error->dump());
        return error_from_qmp(command, *error);
    }
    spdlog::debug("qmp[{}]: <- {} id={} ok", options_.label, command, id);
    return response.value("return", Json::object());
}

Result<std::string> Client::human_monitor_command(const std::string& command_line)
{
    return human_monitor_command(command_line, options_.command_timeout);
}

Result<std::string> Client::human_monitor_command(const std::string& command_line, Millis timeout)
{
    auto output = execute("human-monitor-command", {{"command-line", command_line}}, timeout);
    if (!output) {
        return output.error();
    }
    if (!output->is_string()) {
        return make_error(errc::qmp_protocol, "human-monitor-command '" + command_line + "' returned " +
                                                  output->dump() + " instead of text");
    }
    return output->get<std::string>();
}

Result<Json> Client::wait_for_event(const std::string& name, Millis timeout)
{
    return wait_for_event(name, nullptr, timeout);
}

Result<Json> Client::wait_for_event(const std::string& name, const EventPredicate& predicate, Millis timeout)
{
    Lock lock(mutex_);
    std::optional<std::size_t> match;
    auto find_match = [&] {
        for (std::size_t i = 0; i < events_.size(); ++i) {
            if (detail::string_field(events_[i], "event") == name && (!predicate || predicate(events_[i]))) {
                match = i;
                return true;
            }
        }
        return false;
    };
    const auto deadline = Clock::now() + timeout;
    auto waited = wait_until(lock, deadline, find_match, "event " + name);
    if (!match) {
        if (!waited && waited.error().code == errc::qmp_timeout) {
            return make_error(errc::qmp_timeout, "event " + name + " did not arrive within " +
                                                     std::to_string(timeout.count()) + " ms on " +
                                                     options_.socket_path);
        }
        return waited.error();
    }
    Json event = std::move(events_[*match]);
    events_.erase(events_.begin() + static_cast<std::ptrdiff_t>(*match));
    return event;
}

std::deque<Json> Client::take_events()
{
    Lock lock(mutex_);
    if (fd_.valid() && !reader_active_) {
        // A zero deadline polls without blocking, picking up what QEMU already sent.
        (void)read_once(lock, Clock::now());
    }
    return std::exchange(events_, {});
}

}  // namespace hyv::qmp
