#include "hyvd/api/protocol.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <set>

namespace hyv::api {

namespace {

using nlohmann::json;

// Client-supplied text echoed into a message: capped and stripped of control characters
// so that a log line or a terminal line stays one line.
std::string printable_prefix(std::string_view text)
{
    constexpr std::size_t max_echo = 64;
    std::string out;
    for (char c : text.substr(0, max_echo)) {
        out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    }
    return out;
}

Error bad_args(std::string_view command, std::string_view detail)
{
    return make_error(errc::bad_args,
                      fmt::format("{}: {} (see `hyvctl {} --help` or docs/api.md)", command, detail, command));
}

// Reads the members of one "args" object, remembering which were consumed so that
// anything left over (a typo such as "persistant") is reported instead of ignored.
class ArgReader {
public:
    ArgReader(std::string_view command, const json& args) : command_(command), args_(args) {}

    const json* find(const char* key)
    {
        consumed_.insert(key);
        auto it = args_.find(key);
        if (it == args_.end() || it->is_null()) {
            return nullptr;
        }
        return &*it;
    }

    Result<std::string> required_string(const char* key)
    {
        const json* value = find(key);
        if (value == nullptr) {
            return bad_args(command_, fmt::format("missing argument \"{}\"", key));
        }
        if (!value->is_string()) {
            return bad_args(command_, fmt::format("argument \"{}\" must be a string", key));
        }
        return value->get<std::string>();
    }

    Result<std::string> optional_string(const char* key)
    {
        const json* value = find(key);
        if (value == nullptr) {
            return std::string{};
        }
        if (!value->is_string()) {
            return bad_args(command_, fmt::format("argument \"{}\" must be a string", key));
        }
        return value->get<std::string>();
    }

    Result<bool> optional_bool(const char* key, bool fallback)
    {
        const json* value = find(key);
        if (value == nullptr) {
            return fallback;
        }
        if (!value->is_boolean()) {
            return bad_args(command_, fmt::format("argument \"{}\" must be true or false", key));
        }
        return value->get<bool>();
    }

    // Non-negative integer no larger than `max`; negative numbers and floats are refused
    // rather than silently wrapped or truncated.
    Result<std::uint64_t> optional_unsigned(const json& object, const char* key, std::uint64_t fallback,
                                            std::uint64_t max)
    {
        auto it = object.find(key);
        if (it == object.end() || it->is_null()) {
            return fallback;
        }
        if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<std::int64_t>() >= 0)) {
            return bad_args(command_, fmt::format("argument \"{}\" must be a non-negative integer", key));
        }
        const auto value = it->get<std::uint64_t>();
        if (value > max) {
            return bad_args(command_, fmt::format("argument \"{}\" is {}, the maximum is {}", key, value, max));
        }
        return value;
    }

    Result<VmId> vm_name(const char* key)
    {
        auto text = required_string(key);
        if (!text) {
            return text.error();
        }
        auto vm = VmId::parse(*text);
        if (!vm) {
            return make_error(errc::invalid_vm_name, fmt::format("{}: {}", command_, vm.error().message));
        }
        return std::move(vm).value();
    }

    Result<Guid> guid(const char* key)
    {
        auto text = required_string(key);
        if (!text) {
            return text.error();
        }
        auto guid = Guid::parse(*text);
        if (!guid) {
            return make_error(errc::invalid_guid, fmt::format("{}: {}", command_, guid.error().message));
        }
        if (guid->is_zero()) {
            return make_error(errc::invalid_guid,
                              fmt::format("{}: GUID 0000:0000:0000:0000 belongs to no device; use a GUID "
                                          "from `hyvctl devices`",
                                          command_));
        }
        return *guid;
    }

    Result<void> no_leftovers()
    {
        for (const auto& [key, value] : args_.items()) {
            if (!consumed_.contains(key)) {
                return bad_args(command_, fmt::format("unknown argument \"{}\"", printable_prefix(key)));
            }
        }
        return {};
    }

    std::string_view command() const { return command_; }
    const json& args() const { return args_; }

private:
    std::string_view command_;
    const json& args_;
    std::set<std::string, std::less<>> consumed_;
};

template <typename T>
Result<Command> finish(ArgReader& reader, T command)
{
    if (auto leftover = reader.no_leftovers(); !leftover) {
        return leftover.error();
    }
    return Command{std::move(command)};
}

Result<Command> parse_vm_add(ArgReader& reader)
{
    auto name = reader.vm_name("name");
    if (!name) {
        return name.error();
    }
    auto kind_text = reader.optional_string("kind");
    if (!kind_text) {
        return kind_text.error();
    }
    VmKind kind = VmKind::qemu;
    if (!kind_text->empty()) {
        auto parsed = parse_vm_kind(*kind_text);
        if (!parsed) {
            return bad_args(reader.command(), fmt::format("kind \"{}\" is unknown; use \"qemu\" or \"libvirt\"",
                                                          printable_prefix(*kind_text)));
        }
        kind = *parsed;
    }
    auto qmp = reader.optional_string("qmp");
    if (!qmp) {
        return qmp.error();
    }
    if (kind == VmKind::qemu && qmp->empty()) {
        return bad_args(reader.command(), "a raw QEMU VM needs \"qmp\": the path of its QMP unix socket");
    }
    if (kind == VmKind::qemu && qmp->front() != '/') {
        return bad_args(reader.command(), fmt::format("qmp socket \"{}\" must be an absolute path", *qmp));
    }
    if (kind == VmKind::libvirt && !qmp->empty()) {
        return bad_args(reader.command(), "a libvirt domain takes no \"qmp\": hyvd reaches it through libvirt");
    }
    auto uuid = reader.optional_string("uuid");
    if (!uuid) {
        return uuid.error();
    }
    return finish(reader, cmd::VmAdd{std::move(name).value(), kind, std::move(qmp).value(), std::move(uuid).value()});
}

Result<Quota> parse_quota(ArgReader& reader)
{
    Quota quota;
    const json* object = reader.find("quota");
    if (object == nullptr) {
        return quota;
    }
    if (!object->is_object()) {
        return bad_args(reader.command(), "\"quota\" must be an object {\"qps\",\"cqs\",\"mrs\",\"pinned_bytes\"}");
    }
    static constexpr std::uint64_t u32_max = std::numeric_limits<std::uint32_t>::max();
    static constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();
    for (const auto& [key, value] : object->items()) {
        if (key != "qps" && key != "cqs" && key != "mrs" && key != "pinned_bytes") {
            return bad_args(reader.command(), fmt::format("unknown quota \"{}\"; known: qps, cqs, mrs, pinned_bytes",
                                                          printable_prefix(key)));
        }
    }
    auto qps = reader.optional_unsigned(*object, "qps", 0, u32_max);
    auto cqs = reader.optional_unsigned(*object, "cqs", 0, u32_max);
    auto mrs = reader.optional_unsigned(*object, "mrs", 0, u32_max);
    auto pinned = reader.optional_unsigned(*object, "pinned_bytes", 0, u64_max);
    for (const auto* part : {&qps, &cqs, &mrs, &pinned}) {
        if (!*part) {
            return part->error();
        }
    }
    quota.max_qps = static_cast<std::uint32_t>(*qps);
    quota.max_cqs = static_cast<std::uint32_t>(*cqs);
    quota.max_mrs = static_cast<std::uint32_t>(*mrs);
    quota.max_pinned_bytes = *pinned;
    return quota;
}

// "identity": {"unisolated": true} or {"addresses": ["10.0.0.5/24", ...], "mac": "...", "vlan": 7}.
// Absent: no identity, which the service refuses (identity-required) with the fix.
Result<NetworkIdentity> parse_identity(ArgReader& reader)
{
    NetworkIdentity identity;
    const json* object = reader.find("identity");
    if (object == nullptr) {
        return identity;
    }
    const auto shape = [&] {
        return bad_args(reader.command(), "\"identity\" must be {\"unisolated\": true} or {\"addresses\": "
                                          "[\"ADDR/PREFIX\", ...], \"mac\": \"..\", \"vlan\": N}");
    };
    if (!object->is_object()) {
        return shape();
    }
    for (const auto& [key, value] : object->items()) {
        if (key == "unisolated" && value.is_boolean()) {
            identity.unisolated = value.get<bool>();
        } else if (key == "addresses" && value.is_array()) {
            for (const auto& item : value) {
                if (!item.is_string()) {
                    return shape();
                }
                auto address = IpPrefix::parse(item.get<std::string>());
                if (!address) {
                    return make_error(address.error().code,
                                      fmt::format("{}: {}", reader.command(), address.error().message));
                }
                identity.addresses.push_back(*address);
            }
        } else if (key == "mac" && value.is_string()) {
            auto mac = MacAddress::parse(value.get<std::string>());
            if (!mac) {
                return make_error(mac.error().code, fmt::format("{}: {}", reader.command(), mac.error().message));
            }
            identity.mac = *mac;
        } else if (key == "vlan" && value.is_number_integer()) {
            auto vlan = VlanId::from_number(value.get<std::int64_t>());
            if (!vlan) {
                return make_error(vlan.error().code, fmt::format("{}: {}", reader.command(), vlan.error().message));
            }
            identity.vlan = *vlan;
        } else {
            return shape();
        }
    }
    return identity;
}

Result<Command> parse_attach(ArgReader& reader)
{
    auto vm = reader.vm_name("vm");
    if (!vm) {
        return vm.error();
    }
    auto guid = reader.guid("guid");
    if (!guid) {
        return guid.error();
    }
    auto quota = parse_quota(reader);
    if (!quota) {
        return quota.error();
    }
    auto persistent = reader.optional_bool("persistent", false);
    if (!persistent) {
        return persistent.error();
    }
    auto identity = parse_identity(reader);
    if (!identity) {
        return identity.error();
    }
    return finish(reader, cmd::Attach{std::move(vm).value(), *guid, *quota, *persistent, std::move(identity).value()});
}

Result<Command> parse_detach(ArgReader& reader)
{
    auto vm = reader.vm_name("vm");
    if (!vm) {
        return vm.error();
    }
    auto guid = reader.guid("guid");
    if (!guid) {
        return guid.error();
    }
    cmd::Detach detach{std::move(vm).value(), *guid, std::nullopt};
    if (const json* timeout = reader.find("timeout_ms"); timeout != nullptr) {
        auto milliseconds = reader.optional_unsigned(reader.args(), "timeout_ms", 0, max_detach_timeout_ms);
        if (!milliseconds) {
            return milliseconds.error();
        }
        detach.timeout = std::chrono::milliseconds(*milliseconds);
    }
    return finish(reader, std::move(detach));
}

Result<Command> parse_list(ArgReader& reader)
{
    cmd::List list;
    if (reader.find("vm") != nullptr) {
        auto vm = reader.vm_name("vm");
        if (!vm) {
            return vm.error();
        }
        list.vm = std::move(vm).value();
    }
    return finish(reader, std::move(list));
}

Result<Command> parse_events(ArgReader& reader)
{
    const json& args = reader.args();
    static constexpr auto int64_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    reader.find("since");
    reader.find("limit");
    auto since = reader.optional_unsigned(args, "since", 0, int64_max);
    if (!since) {
        return since.error();
    }
    auto limit = reader.optional_unsigned(args, "limit", default_event_limit, max_event_limit);
    if (!limit) {
        return limit.error();
    }
    if (*limit == 0) {
        return bad_args(reader.command(), "\"limit\" must be at least 1");
    }
    return finish(reader, cmd::Events{static_cast<std::int64_t>(*since), static_cast<std::size_t>(*limit)});
}

json id_or_null(const json& request)
{
    auto it = request.find("id");
    if (it == request.end() || !(it->is_string() || it->is_number_integer() || it->is_number_unsigned())) {
        return nullptr;
    }
    return *it;
}

}  // namespace

const std::vector<std::string_view>& command_names()
{
    static const std::vector<std::string_view> names{"version", "devices", "vms",    "vm-add", "vm-remove", "attach",
                                                     "detach",  "list",    "status", "events", "reconcile"};
    return names;
}

Result<Request> parse_request(std::string_view line, json* id_out)
{
    if (line.size() > max_request_bytes) {
        return make_error(errc::request_too_large,
                          fmt::format("request of {} bytes exceeds the limit of {} bytes; send one JSON object "
                                      "per line",
                                      line.size(), max_request_bytes));
    }
    json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) {
        return make_error(errc::malformed_json,
                          "request is not valid JSON; send one JSON object per line (see docs/api.md)");
    }
    if (!parsed.is_object()) {
        return make_error(errc::bad_request,
                          "request must be a JSON object {\"api\":1,\"id\":...,\"cmd\":...,\"args\":{...}}");
    }
    Request request;
    request.id = id_or_null(parsed);
    if (id_out != nullptr) {
        *id_out = request.id;
    }
    if (parsed.contains("id") && request.id.is_null() && !parsed["id"].is_null()) {
        return make_error(errc::bad_request, "\"id\" must be a string or an integer");
    }
    auto api = parsed.find("api");
    if (api == parsed.end() || !api->is_number_integer()) {
        return make_error(errc::bad_request, fmt::format("missing \"api\": send \"api\":{}", api_version));
    }
    if (api->get<std::int64_t>() != api_version) {
        return make_error(errc::unsupported_api,
                          fmt::format("API version {} is not supported, this hyvd speaks {}; use a matching hyvctl",
                                      api->dump(), api_version));
    }
    auto cmd = parsed.find("cmd");
    if (cmd == parsed.end() || !cmd->is_string()) {
        return make_error(errc::bad_request, "missing \"cmd\": name the command as a string, e.g. \"devices\"");
    }
    request.cmd = cmd->get<std::string>();
    auto args = parsed.find("args");
    if (args != parsed.end() && !args->is_null()) {
        if (!args->is_object()) {
            return make_error(errc::bad_request, "\"args\" must be a JSON object");
        }
        request.args = *args;
    }
    for (const auto& [key, value] : parsed.items()) {
        if (key != "api" && key != "id" && key != "cmd" && key != "args") {
            return make_error(
                errc::bad_request,
                fmt::format("unknown member \"{}\"; a request has only api, id, cmd, args", printable_prefix(key)));
        }
    }
    return request;
}

Result<Command> parse_command(const Request& request)
{
    ArgReader reader(request.cmd, request.args);
    const std::string& name = request.cmd;
    if (name == "version") {
        return finish(reader, cmd::Version{});
    }
    if (name == "devices") {
        return finish(reader, cmd::Devices{});
    }
    if (name == "vms") {
        return finish(reader, cmd::Vms{});
    }
    if (name == "vm-add") {
        return parse_vm_add(reader);
    }
    if (name == "vm-remove") {
        auto vm = reader.vm_name("name");
        if (!vm) {
            return vm.error();
        }
        return finish(reader, cmd::VmRemove{std::move(vm).value()});
    }
    if (name == "attach") {
        return parse_attach(reader);
    }
    if (name == "detach") {
        return parse_detach(reader);
    }
    if (name == "list") {
        return parse_list(reader);
    }
    if (name == "status") {
        return finish(reader, cmd::Status{});
    }
    if (name == "events") {
        return parse_events(reader);
    }
    if (name == "reconcile") {
        return finish(reader, cmd::Reconcile{});
    }
    std::string known;
    for (auto known_name : command_names()) {
        known += known.empty() ? "" : ", ";
        known += known_name;
    }
    return make_error(errc::unknown_command,
                      fmt::format("unknown command \"{}\"; known commands: {}", printable_prefix(name), known));
}

std::string ok_response(const json& id, const json& result)
{
    json response{{"api", api_version}, {"id", id}, {"ok", true}, {"result", result}};
    return response.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string error_response(const json& id, const Error& error)
{
    json response{
        {"api", api_version}, {"id", id}, {"ok", false}, {"error", {{"code", error.code}, {"message", error.message}}}};
    return response.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace hyv::api
