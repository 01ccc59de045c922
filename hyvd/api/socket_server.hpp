// The hyvd API socket: accepts local clients, checks who they are (SO_PEERCRED), splits
// their byte stream into request lines and hands each line to a handler. One thread per
// connection, capped; the protocol itself lives in protocol.hpp and the handler.
#pragma once

#include <hyv/unique_fd.hpp>
#include "hyv/result.hpp"

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace hyv::api {

struct PeerCredentials {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};

// Returns the complete response line (newline-terminated) for one request line.
using RequestHandler = std::function<std::string(std::string_view line, const PeerCredentials& peer)>;

struct ServerOptions {
    std::string socket_path;
    mode_t socket_mode = 0660;
    std::optional<gid_t> group;         // members (primary or supplementary) may connect
    std::size_t max_connections = 32;   // further clients get "too-many-connections" and are closed
    std::size_t max_request_bytes = 0;  // 0: protocol.hpp's max_request_bytes
    // A client silent this long between requests is disconnected, so idle clients cannot hold
    // every slot; a request being handled is never cut short by it.
    std::chrono::seconds idle_timeout{300};
};

class SocketServer {
public:
    // Creates the parent directory, refuses a path another live server answers on, removes a
    // stale socket file, binds, sets mode and group, listens.
    static Result<std::unique_ptr<SocketServer>> listen(ServerOptions options, RequestHandler handler);

    SocketServer(const SocketServer&) = delete;
    SocketServer& operator=(const SocketServer&) = delete;
    // Stops, waits for connection threads (a request being handled finishes first), unlinks the socket.
    ~SocketServer();

    // Accepts until stop(); call from one thread.
    void run();
    // Thread-safe; makes run() return and disconnects idle clients.
    void stop();

    std::size_t active_connections() const;

private:
    struct Connection {
        UniqueFd fd;
        PeerCredentials peer;
        std::thread thread;
        std::atomic<bool> finished{false};
    };

    SocketServer(ServerOptions options, RequestHandler handler, UniqueFd listener, UniqueFd wake_read,
                 UniqueFd wake_write);

    void accept_one();
    void serve(Connection& connection);
    bool peer_allowed(int fd, const PeerCredentials& peer) const;
    void reap_finished();

    ServerOptions options_;
    RequestHandler handler_;
    UniqueFd listener_;
    UniqueFd wake_read_;  // a byte written to wake_write_ interrupts run()'s poll
    UniqueFd wake_write_;
    std::atomic<bool> stopping_{false};
    mutable std::mutex connections_mutex_;
    std::list<Connection> connections_;
};

// Writes all of `data`, retrying short writes; false if the peer went away.
bool write_all(int fd, std::string_view data);

}  // namespace hyv::api
