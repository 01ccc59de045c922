// The hyvd API wire protocol: newline-delimited JSON over a UNIX stream socket.
// This file knows nothing of sockets or of the core service, so every rule about what
// a well-formed request is can be unit-tested on strings. docs/api.md is the reference.
#pragma once

#include "hyv/error_codes.hpp"
#include "hyv/result.hpp"
#include "hyv/types.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hyv::api {

inline constexpr int api_version = 1;
// A request line longer than this is answered with "request-too-large" and discarded;
// the biggest legitimate request (attach with quota) is well under 1 KiB.
inline constexpr std::size_t max_request_bytes = 64 * 1024;
inline constexpr std::size_t default_event_limit = 100;
inline constexpr std::size_t max_event_limit = 10000;
// A guest that has not released a device in an hour is not going to; refuse longer waits.
inline constexpr std::uint64_t max_detach_timeout_ms = 3600 * 1000;

// The envelope, before the command's arguments are looked at. `id` is whatever the
// client sent (string, number or absent → null) and is echoed in the response.
struct Request {
    nlohmann::json id;
    std::string cmd;
    nlohmann::json args = nlohmann::json::object();
};

namespace cmd {
struct Version {};
struct Devices {};
struct Vms {};
struct VmAdd {
    VmId name;
    VmKind kind = VmKind::qemu;
    std::string qmp_socket;  // required for kind qemu, must be empty for libvirt
    std::string uuid;        // optional
};
struct VmRemove {
    VmId name;
};
struct Attach {
    VmId vm;
    Guid guid;
    Quota quota;
    bool persistent = false;
    NetworkIdentity identity;  // empty: none given (the service refuses it)
};
struct Detach {
    VmId vm;
    Guid guid;
    std::optional<std::chrono::milliseconds> timeout;  // nullopt: the daemon's --detach-timeout
};
struct List {
    std::optional<VmId> vm;
};
struct Status {};
struct Events {
    std::int64_t since_id = 0;
    std::size_t limit = default_event_limit;
};
struct Reconcile {};
}  // namespace cmd

using Command = std::variant<cmd::Version, cmd::Devices, cmd::Vms, cmd::VmAdd, cmd::VmRemove, cmd::Attach, cmd::Detach,
                             cmd::List, cmd::Status, cmd::Events, cmd::Reconcile>;

// Every command name the daemon understands, in the order docs/api.md lists them.
const std::vector<std::string_view>& command_names();

// Parses one request line (without its newline). On error, `id_out` is set to the
// request's id if it could be read, so the error response still carries it.
Result<Request> parse_request(std::string_view line, nlohmann::json* id_out = nullptr);

// Validates the command name and its arguments into a typed command.
Result<Command> parse_command(const Request& request);

// Response lines, newline-terminated, ready to write to the socket.
std::string ok_response(const nlohmann::json& id, const nlohmann::json& result);
std::string error_response(const nlohmann::json& id, const Error& error);

}  // namespace hyv::api
