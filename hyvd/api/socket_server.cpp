#include "hyvd/api/socket_server.hpp"

#include "hyvd/api/protocol.hpp"
#include "hyv/error_codes.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace hyv::api {

namespace {

constexpr int listen_backlog = 16;
constexpr std::size_t read_chunk_bytes = 4096;

std::string errno_text(int error)
{
    return std::strerror(error);
}

Result<sockaddr_un> unix_address(const std::string& path)
{
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(address.sun_path)) {
        return make_error(errc::bad_socket_path, fmt::format("socket path \"{}\" must be 1..{} bytes; choose a shorter "
                                                             "--socket",
                                                             path, sizeof(address.sun_path) - 1));
    }
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return address;
}

// True when something accepts connections on `path` (another hyvd).
bool someone_listens(const sockaddr_un& address)
{
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe.valid()) {
        return false;
    }
    return ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
}

}  // namespace

bool write_all(int fd, std::string_view data)
{
    while (!data.empty()) {
        const ssize_t written = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(written));
    }
    return true;
}

Result<std::unique_ptr<SocketServer>> SocketServer::listen(ServerOptions options, RequestHandler handler)
{
    if (options.max_request_bytes == 0) {
        options.max_request_bytes = max_request_bytes;
    }
    auto address = unix_address(options.socket_path);
    if (!address) {
        return address.error();
    }
    const std::filesystem::path path(options.socket_path);
    std::error_code ec;
    if (path.has_parent_path()) {
        std::filesystem::create_directories(path.parent_path(), ec);
        if (ec) {
            return make_error(errc::socket_dir,
                              fmt::format("cannot create socket directory {}: {}; create it or choose "
                                          "another --socket",
                                          path.parent_path().string(), ec.message()));
        }
    }
    struct stat existing {};
    if (::lstat(options.socket_path.c_str(), &existing) == 0) {
        if (!S_ISSOCK(existing.st_mode)) {
            return make_error(errc::socket_path_taken, fmt::format("{} exists and is not a socket; remove it or choose "
                                                                   "another --socket",
                                                                   options.socket_path));
        }
        if (someone_listens(*address)) {
            return make_error(errc::socket_in_use,
                              fmt::format("another hyvd already serves {}; stop it first or choose "
                                          "another --socket",
                                          options.socket_path));
        }
        // Left behind by a daemon that died without cleaning up.
        ::unlink(options.socket_path.c_str());
    }

    UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!listener.valid()) {
        return make_error(errc::socket, fmt::format("socket(AF_UNIX): {}", errno_text(errno)));
    }
    // Bind with a restrictive umask so the socket is never briefly open to everyone.
    const mode_t old_umask = ::umask(0177);
    const int bound = ::bind(listener.get(), reinterpret_cast<const sockaddr*>(&*address), sizeof(*address));
    const int bind_errno = errno;
    ::umask(old_umask);
    if (bound != 0) {
        return make_error(errc::socket_bind, fmt::format("cannot bind {}: {}; check the directory's permissions",
                                                         options.socket_path, errno_text(bind_errno)));
    }
    if (options.group && ::chown(options.socket_path.c_str(), static_cast<uid_t>(-1), *options.group) != 0) {
        const int chown_errno = errno;
        ::unlink(options.socket_path.c_str());
        return make_error(errc::socket_group,
                          fmt::format("cannot give {} to group id {}: {}; run hyvd as root or drop "
                                      "--group",
                                      options.socket_path, *options.group, errno_text(chown_errno)));
    }
    if (::chmod(options.socket_path.c_str(), options.socket_mode) != 0) {
        const int chmod_errno = errno;
        ::unlink(options.socket_path.c_str());
        return make_error(errc::socket_mode,
                          fmt::format("cannot chmod {}: {}", options.socket_path, errno_text(chmod_errno)));
    }
    if (::listen(listener.get(), listen_backlog) != 0) {
        const int listen_errno = errno;
        ::unlink(options.socket_path.c_str());
        return make_error(errc::socket_listen,
                          fmt::format("listen on {}: {}", options.socket_path, errno_text(listen_errno)));
    }
    std::array<int, 2> wake{};
    if (::pipe2(wake.data(), O_CLOEXEC | O_NONBLOCK) != 0) {
        const int pipe_errno = errno;
        ::unlink(options.socket_path.c_str());
        return make_error(errc::socket, fmt::format("pipe2: {}", errno_text(pipe_errno)));
    }
    return std::unique_ptr<SocketServer>(new SocketServer(std::move(options), std::move(handler), std::move(listener),
                                                          UniqueFd(wake[0]), UniqueFd(wake[1])));
}

SocketServer::SocketServer(ServerOptions options, RequestHandler handler, UniqueFd listener, UniqueFd wake_read,
                           UniqueFd wake_write)
    : options_(std::move(options)), handler_(std::move(handler)), listener_(std::move(listener)),
      wake_read_(std::move(wake_read)), wake_write_(std::move(wake_write))
{
}

SocketServer::~SocketServer()
{
    stop();
    std::list<Connection> remaining;
    {
        std::lock_guard lock(connections_mutex_);
        remaining.splice(remaining.end(), connections_);
    }
    for (auto& connection : remaining) {
        if (connection.thread.joinable()) {
            connection.thread.join();
        }
    }
    ::unlink(options_.socket_path.c_str());
}

void SocketServer::stop()
{
    if (stopping_.exchange(true)) {
        return;
    }
    const char wake_byte = 1;
    [[maybe_unused]] const ssize_t ignored = ::write(wake_write_.get(), &wake_byte, 1);
    std::lock_guard lock(connections_mutex_);
    for (auto& connection : connections_) {
        // Wakes a thread blocked in recv; one busy in the handler finishes its request first.
        ::shutdown(connection.fd.get(), SHUT_RDWR);
    }
}

std::size_t SocketServer::active_connections() const
{
    std::lock_guard lock(connections_mutex_);
    return static_cast<std::size_t>(std::count_if(connections_.begin(), connections_.end(),
                                                  [](const Connection& c) { return !c.finished.load(); }));
}

void SocketServer::run()
{
    spdlog::info("API listening on {} (mode {:o}, max {} connections)", options_.socket_path, options_.socket_mode,
                 options_.max_connections);
    while (!stopping_.load()) {
        std::array<pollfd, 2> fds{{{listener_.get(), POLLIN, 0}, {wake_read_.get(), POLLIN, 0}}};
        const int ready = ::poll(fds.data(), fds.size(), -1);
        if (ready < 0) {
            if (errno == EINTR) {
                continue;
            }
            spdlog::error("API poll failed: {}; the API stops accepting clients", errno_text(errno));
            return;
        }
        if (fds[1].revents != 0 || stopping_.load()) {
            break;
        }
        if (fds[0].revents & POLLIN) {
            reap_finished();
            accept_one();
        }
    }
    spdlog::debug("API accept loop on {} ended", options_.socket_path);
}

void SocketServer::reap_finished()
{
    std::list<Connection> finished;
    {
        std::lock_guard lock(connections_mutex_);
        for (auto it = connections_.begin(); it != connections_.end();) {
            auto next = std::next(it);
            if (it->finished.load()) {
                finished.splice(finished.end(), connections_, it);
            }
            it = next;
        }
    }
    for (auto& connection : finished) {
        connection.thread.join();
    }
}

bool SocketServer::peer_allowed(int fd, const PeerCredentials& peer) const
{
    if (peer.uid == 0 || peer.uid == ::geteuid()) {
        return true;
    }
    if (!options_.group) {
        return false;
    }
    if (peer.gid == *options_.group) {
        return true;
    }
    // SO_PEERGROUPS (Linux 4.13+) gives the supplementary groups the peer had at connect().
    std::vector<gid_t> groups(64);
    socklen_t length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) != 0) {
        if (errno != ERANGE) {
            return false;
        }
        groups.resize(length / sizeof(gid_t));
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) != 0) {
            return false;
        }
    }
    groups.resize(length / sizeof(gid_t));
    return std::find(groups.begin(), groups.end(), *options_.group) != groups.end();
}

void SocketServer::accept_one()
{
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client.valid()) {
        if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
            spdlog::warn("API accept on {} failed: {}", options_.socket_path, errno_text(errno));
        }
        return;
    }
    ucred credentials{};
    socklen_t length = sizeof(credentials);
    if (::getsockopt(client.get(), SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
        spdlog::warn("API: SO_PEERCRED failed: {}; connection refused", errno_text(errno));
        return;
    }
    const PeerCredentials peer{credentials.pid, credentials.uid, credentials.gid};
    if (!peer_allowed(client.get(), peer)) {
        spdlog::warn("API: refused pid {} uid {} gid {}: not root and not in the API group", peer.pid, peer.uid,
                     peer.gid);
        write_all(client.get(),
                  error_response(nullptr, make_error(errc::permission_denied,
                                                     "only root and members of hyvd's API group may use hyvd; ask "
                                                     "an administrator to add you to that group (hyvd --group)")));
        return;
    }
    if (active_connections() >= options_.max_connections) {
        spdlog::warn("API: refused pid {} uid {}: {} connections already open", peer.pid, peer.uid,
                     options_.max_connections);
        write_all(client.get(),
                  error_response(nullptr, make_error(errc::too_many_connections,
                                                     fmt::format("hyvd already serves {} clients; retry when one "
                                                                 "has finished",
                                                                 options_.max_connections))));
        return;
    }
    timeval idle{};
    idle.tv_sec = static_cast<time_t>(options_.idle_timeout.count());
    ::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
    std::lock_guard lock(connections_mutex_);
    auto& connection = connections_.emplace_back();
    connection.fd = std::move(client);
    connection.peer = peer;
    connection.thread = std::thread([this, &connection] {
        serve(connection);
        // The fd is closed when the thread is reaped; the client learns now that we are done.
        ::shutdown(connection.fd.get(), SHUT_RDWR);
        connection.finished.store(true);
    });
    spdlog::debug("API: client pid {} uid {} connected", peer.pid, peer.uid);
}

void SocketServer::serve(Connection& connection)
{
    const int fd = connection.fd.get();
    std::string pending;
    // After an oversized line has been answered, the rest of it is dropped up to its newline.
    bool discarding = false;
    std::array<char, read_chunk_bytes> chunk{};
    while (!stopping_.load()) {
        const ssize_t received = ::recv(fd, chunk.data(), chunk.size(), 0);
        if (received < 0 && errno == EINTR) {
            continue;
        }
        if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            spdlog::debug("API: client pid {} idle for {} s; disconnected", connection.peer.pid,
                          options_.idle_timeout.count());
            break;
        }
        if (received <= 0) {
            break;
        }
        std::string_view data(chunk.data(), static_cast<std::size_t>(received));
        while (!data.empty()) {
            const auto newline = data.find('\n');
            const auto piece = data.substr(0, newline);
            if (!discarding) {
                pending.append(piece);
            }
            if (!discarding && pending.size() > options_.max_request_bytes) {
                spdlog::warn("API: pid {} sent a request over {} bytes; answered with an error", connection.peer.pid,
                             options_.max_request_bytes);
                const auto reply = error_response(
                    nullptr, make_error(errc::request_too_large,
                                        fmt::format("request exceeds the limit of {} bytes; send one JSON object "
                                                    "per line",
                                                    options_.max_request_bytes)));
                if (!write_all(fd, reply)) {
                    return;
                }
                pending.clear();
                discarding = true;
            }
            if (newline == std::string_view::npos) {
                break;
            }
            data.remove_prefix(newline + 1);
            if (discarding) {
                discarding = false;
                continue;
            }
            std::string line = std::move(pending);
            pending.clear();
            if (!line.empty() && line.back() == '\r') {
                line.pop_back();
            }
            if (line.find_first_not_of(" \t") == std::string::npos) {
                continue;  // blank keep-alive lines are harmless
            }
            std::string reply;
            try {
                reply = handler_(line, connection.peer);
            } catch (const std::exception& e) {
                // A handler bug must cost one request, not the daemon.
                spdlog::error("API: request from pid {} failed with an exception: {}", connection.peer.pid, e.what());
                reply = error_response(nullptr, make_error(errc::internal, fmt::format("internal error: {}; see the "
                                                                                       "hyvd log",
                                                                                       e.what())));
            }
            if (!write_all(fd, reply)) {
                return;
            }
        }
    }
    spdlog::debug("API: client pid {} disconnected", connection.peer.pid);
}

}  // namespace hyv::api
