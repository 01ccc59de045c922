#include "hyvctl/client.hpp"

#include "hyvd/api/protocol.hpp"
#include <hyv/unique_fd.hpp>
#include "hyv/error_codes.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace hyv::cli {

namespace {

constexpr std::size_t read_chunk_bytes = 4096;
// Replies can be large (events); a reply without a newline past this is not hyvd talking.
constexpr std::size_t max_reply_bytes = 64 * 1024 * 1024;

Error unreachable(const std::string& path, int error)
{
    std::string hint;
    switch (error) {
    case ENOENT:
    case ECONNREFUSED: hint = "is hyvd running? start it, or point --socket/HYV_SOCKET at its socket"; break;
    case EACCES:
    case EPERM: hint = "you may not open it; run as root or as a member of hyvd's API group"; break;
    default: hint = "check --socket/HYV_SOCKET"; break;
    }
    return make_error(errc::daemon_unreachable,
                      fmt::format("cannot reach hyvd at {}: {}; {}", path, std::strerror(error), hint));
}

Result<UniqueFd> connect_to(const std::string& path, std::chrono::seconds timeout)
{
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(address.sun_path)) {
        return make_error(errc::daemon_unreachable, fmt::format("socket path \"{}\" is empty or too long", path));
    }
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        return unreachable(path, errno);
    }
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        return unreachable(path, errno);
    }
    timeval limit{};
    limit.tv_sec = static_cast<time_t>(timeout.count());
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
    return fd;
}

Result<std::string> read_line(int fd, const std::string& path, std::chrono::seconds timeout)
{
    std::string reply;
    std::array<char, read_chunk_bytes> chunk{};
    while (reply.find('\n') == std::string::npos) {
        const ssize_t received = ::recv(fd, chunk.data(), chunk.size(), 0);
        if (received < 0 && errno == EINTR) {
            continue;
        }
        if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return make_error(errc::bad_reply, fmt::format("hyvd at {} did not answer within {} s; the operation may "
                                                           "still finish: check `hyvctl list`, or raise --timeout",
                                                           path, timeout.count()));
        }
        if (received <= 0) {
            return make_error(errc::bad_reply, fmt::format("hyvd at {} closed the connection without an answer; see "
                                                           "the hyvd log",
                                                           path));
        }
        reply.append(chunk.data(), static_cast<std::size_t>(received));
        if (reply.size() > max_reply_bytes) {
            return make_error(errc::bad_reply, fmt::format("reply from {} is not a hyvd reply (no newline in {} "
                                                           "bytes)",
                                                           path, max_reply_bytes));
        }
    }
    reply.resize(reply.find('\n'));
    return reply;
}

bool send_all(int fd, std::string_view data)
{
    while (!data.empty()) {
        const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) {
            continue;
        }
        if (sent <= 0) {
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
}

}  // namespace

Result<std::string> exchange_raw(const std::string& socket_path, const std::string& bytes, std::chrono::seconds timeout)
{
    auto fd = connect_to(socket_path, timeout);
    if (!fd) {
        return fd.error();
    }
    if (!send_all(fd->get(), bytes)) {
        const int send_errno = errno;
        // hyvd refuses some clients (permission, connection cap) with one error line and closes
        // at once; that line is still readable and says more than EPIPE does.
        auto refusal = read_line(fd->get(), socket_path, timeout);
        if (refusal) {
            return refusal;
        }
        return make_error(errc::daemon_unreachable,
                          fmt::format("sending to hyvd at {} failed: {}", socket_path, std::strerror(send_errno)));
    }
    return read_line(fd->get(), socket_path, timeout);
}

Result<nlohmann::json> call(const CallOptions& options, const std::string& cmd, const nlohmann::json& args)
{
    const nlohmann::json request{{"api", api::api_version}, {"id", 1}, {"cmd", cmd}, {"args", args}};
    auto line = exchange_raw(options.socket_path, request.dump() + "\n", options.timeout);
    if (!line) {
        return line.error();
    }
    auto reply = nlohmann::json::parse(*line, nullptr, /*allow_exceptions=*/false);
    if (reply.is_discarded() || !reply.is_object() || !reply.contains("ok")) {
        return make_error(errc::bad_reply, fmt::format("hyvd at {} sent an unreadable reply; is it a matching "
                                                       "version?",
                                                       options.socket_path));
    }
    if (reply.value("ok", false)) {
        return reply.value("result", nlohmann::json());
    }
    const auto& error = reply.value("error", nlohmann::json::object());
    return make_error(error.value("code", errc::unknown), error.value("message", "hyvd reported an error without "
                                                                                 "a message; see the hyvd log"));
}

}  // namespace hyv::cli
