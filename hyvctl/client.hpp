// hyvctl's side of the hyvd API (docs/api.md): one connection, one request line, one reply line.
#pragma once

#include "hyv/result.hpp"

#include "hyv/error_codes.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

namespace hyv::cli {

struct CallOptions {
    std::string socket_path;
    std::chrono::seconds timeout{600};  // attach/detach on a slow guest can take minutes
};

// Sends {"api":1,"id":1,"cmd":cmd,"args":args}; returns "result" on ok, the daemon's error
// otherwise, or an error errc::daemon_unreachable / errc::bad_reply when it never got that far.
Result<nlohmann::json> call(const CallOptions& options, const std::string& cmd,
                            const nlohmann::json& args = nlohmann::json::object());

// Sends raw bytes and returns the raw reply line; for tests that speak broken protocol on purpose.
Result<std::string> exchange_raw(const std::string& socket_path, const std::string& bytes,
                                 std::chrono::seconds timeout);

}  // namespace hyv::cli
