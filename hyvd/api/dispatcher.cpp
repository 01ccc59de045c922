#include "hyvd/api/dispatcher.hpp"

#include "hyvd/api/codec.hpp"
#include "hyvd/api/protocol.hpp"
#include "hyv/error_codes.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>

#ifndef HYV_VERSION
#define HYV_VERSION "unknown"
#endif

namespace hyv::api {

namespace {

using nlohmann::json;

template <typename... Fs>
struct Overloaded : Fs... {
    using Fs::operator()...;
};
template <typename... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

template <typename T>
Result<json> as_json(Result<T> result)
{
    if (!result) {
        return result.error();
    }
    if constexpr (requires { to_json_array(*result); }) {
        return to_json_array(*result);
    } else {
        return to_json(*result);
    }
}

Result<json> run(core::Service& service, const Command& command)
{
    return std::visit(
        Overloaded{
            [](const cmd::Version&) -> Result<json> {
                return json{{"version", HYV_VERSION}, {"api", api_version}};
            },
            [&](const cmd::Devices&) { return as_json(service.devices()); },
            [&](const cmd::Vms&) { return as_json(service.vms()); },
            [&](const cmd::VmAdd& add) {
                return as_json(service.vm_add(core::VmAddRequest{add.name.str(), add.kind, add.qmp_socket, add.uuid}));
            },
            [&](const cmd::VmRemove& remove) -> Result<json> {
                auto removed = service.vm_remove(remove.name);
                if (!removed) {
                    return removed.error();
                }
                return json{{"name", remove.name.str()}, {"removed", true}};
            },
            [&](const cmd::Attach& attach) {
                return as_json(service.attach(attach.vm, attach.guid,
                                              core::AttachOptions{attach.quota, attach.persistent, attach.identity}));
            },
            [&](const cmd::Detach& detach) {
                return as_json(service.detach(detach.vm, detach.guid, core::DetachOptions{detach.timeout}));
            },
            [&](const cmd::List& list) { return as_json(service.list(list.vm)); },
            [&](const cmd::Status&) -> Result<json> {
                auto status = as_json(service.status());
                if (status) {
                    (*status)["version"] = HYV_VERSION;
                }
                return status;
            },
            [&](const cmd::Events& events) { return as_json(service.events(events.since_id, events.limit)); },
            [&](const cmd::Reconcile&) { return as_json(service.reconcile()); },
        },
        command);
}

// The service names the unknown GUID; the operator's next question is which ones exist.
Error with_known_guids(core::Service& service, Error error)
{
    auto devices = service.devices();
    if (!devices) {
        return error;
    }
    std::string known;
    for (const auto& device : *devices) {
        if (device.present) {
            known += fmt::format("{}{} ({})", known.empty() ? "" : ", ", device.record.device.guid.to_string(),
                                 device.record.device.ibdev);
        }
    }
    error.message += known.empty() ? "; this host has no RDMA devices" : "; known GUIDs: " + known;
    return error;
}

bool changes_state(const Command& command)
{
    return std::holds_alternative<cmd::VmAdd>(command) || std::holds_alternative<cmd::VmRemove>(command) ||
           std::holds_alternative<cmd::Attach>(command) || std::holds_alternative<cmd::Detach>(command) ||
           std::holds_alternative<cmd::Reconcile>(command);
}

}  // namespace

std::string Dispatcher::handle(std::string_view line, const PeerCredentials& peer)
{
    json id = nullptr;
    auto request = parse_request(line, &id);
    if (!request) {
        spdlog::debug("API: pid {} sent a bad request: {}", peer.pid, request.error().message);
        return error_response(id, request.error());
    }
    auto command = parse_command(*request);
    if (!command) {
        spdlog::debug("API: pid {} cmd {}: {}", peer.pid, request->cmd, command.error().message);
        return error_response(id, command.error());
    }
    const auto started = std::chrono::steady_clock::now();
    Result<json> result = make_error(errc::internal, "not run");
    try {
        result = run(service_, *command);
    } catch (const std::exception& e) {
        spdlog::error("API: cmd {} from pid {} threw: {}", request->cmd, peer.pid, e.what());
        result = make_error(errc::internal,
                            fmt::format("internal error in {}: {}; see the hyvd log", request->cmd, e.what()));
    }
    if (!result && result.error().code == errc::unknown_guid && std::holds_alternative<cmd::Attach>(*command)) {
        result = with_known_guids(service_, result.error());
    }
    const auto elapsed_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    const auto level = changes_state(*command) ? spdlog::level::info : spdlog::level::debug;
    if (result) {
        spdlog::log(level, "API: {} {} by uid {} pid {} ok in {} ms", request->cmd, request->args.dump(), peer.uid,
                    peer.pid, elapsed_ms);
        return ok_response(id, *result);
    }
    spdlog::log(level, "API: {} {} by uid {} pid {} failed in {} ms: [{}] {}", request->cmd, request->args.dump(),
                peer.uid, peer.pid, elapsed_ms, result.error().code, result.error().message);
    return error_response(id, result.error());
}

}  // namespace hyv::api
