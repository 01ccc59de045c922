// Turns one request line into one response line: protocol validation, then the matching
// core::Service call, then the result's JSON. Never throws; every failure is an error response.
#pragma once

#include "hyvd/api/socket_server.hpp"
#include "hyvd/core/service.hpp"

#include <string>
#include <string_view>

namespace hyv::api {

class Dispatcher {
public:
    explicit Dispatcher(core::Service& service) : service_(service) {}

    std::string handle(std::string_view line, const PeerCredentials& peer);

private:
    core::Service& service_;
};

}  // namespace hyv::api
