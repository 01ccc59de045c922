// hyvctl: the operator CLI of hyv. Every subcommand is one request to hyvd (docs/api.md);
// tables by default, the API's result JSON with --json. Exit codes are in exit_codes below
// and docs/hyvctl.md.
#include "hyvctl/client.hpp"
#include "hyvctl/format.hpp"

#include "hyv/error_codes.hpp"
#include "hyv/types.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#ifndef HYV_VERSION
#define HYV_VERSION "unknown"
#endif

namespace {

using nlohmann::json;

namespace exit_codes {
constexpr int ok = 0;
constexpr int refused = 1;      // hyvd answered with an error
constexpr int usage = 2;        // bad command line
constexpr int unreachable = 3;  // no daemon at the socket, or no permission to open it
constexpr int bad_reply = 4;    // connection dropped, timed out, or the reply made no sense
}  // namespace exit_codes

constexpr const char* default_socket = "/run/hyv/hyvd.sock";

struct Globals {
    std::string socket = default_socket;
    bool json_output = false;
    unsigned timeout_s = 600;
};

struct Request {
    std::string cmd;
    json args = json::object();
    std::function<std::string(const json&)> render;
    std::optional<hyv::Error> invalid{};  // found while reading the arguments; nothing is sent
};

int report_error(const Globals& globals, const hyv::Error& error)
{
    if (globals.json_output) {
        std::cout << json{{"error", {{"code", error.code}, {"message", error.message}}}}.dump(2) << "\n";
    } else {
        fmt::print(stderr, "hyvctl: {} [{}]\n", error.message, error.code);
    }
    if (error.code == hyv::errc::daemon_unreachable) {
        return exit_codes::unreachable;
    }
    if (error.code == hyv::errc::bad_reply || error.code == hyv::errc::unsupported_api) {
        return exit_codes::bad_reply;
    }
    return exit_codes::refused;
}

int usage_error(const std::string& message)
{
    fmt::print(stderr, "hyvctl: {}\nRun with --help for more information.\n", message);
    return exit_codes::usage;
}

// Normal-form GUID, or nullopt after printing a usage error.
std::optional<std::string> checked_guid(const std::string& text)
{
    auto guid = hyv::Guid::parse(text);
    if (!guid) {
        usage_error(guid.error().message);
        return std::nullopt;
    }
    return guid->to_string();
}

void add_global_options(CLI::App& app, Globals& globals)
{
    if (const char* env = std::getenv("HYV_SOCKET"); env != nullptr && *env != '\0') {
        globals.socket = env;
    }
    app.add_option("--socket", globals.socket, "hyvd's API socket (env HYV_SOCKET)")->capture_default_str();
    app.add_flag("--json", globals.json_output, "print the API's result JSON instead of a table");
    app.add_option("--timeout", globals.timeout_s, "seconds to wait for hyvd's answer")
        ->capture_default_str()
        ->check(CLI::Range(1u, 86400u));
}

// Each add_* from here on registers one subcommand; its callback, run when the command line names
// it, fills `request`. CLI11 writes option values through references, so they sit behind a
// shared_ptr the callback captures: they live as long as the CLI::App that stores the callback.

// A subcommand without arguments: devices, vms, status, reconcile.
void add_query(CLI::App& app, Request& request, const std::string& cmd, const std::string& description,
               std::function<std::string(const json&)> render)
{
    app.add_subcommand(cmd, description)->callback([&request, cmd, render = std::move(render)] {
        request = {cmd, json::object(), render};
    });
}

void add_vm_add(CLI::App& vm, Request& request)
{
    struct Args {
        std::string name;
        std::string qmp_path;
        std::string uuid;
        bool libvirt_domain = false;
    };
    auto args = std::make_shared<Args>();
    auto* add = vm.add_subcommand("add", "make a VM known: a raw QEMU (--qmp) or a libvirt domain (--libvirt)");
    add->add_option("NAME", args->name, "VM name (the libvirt domain name for --libvirt)")->required();
    auto* qmp_option =
        add->add_option("--qmp", args->qmp_path, "QMP unix socket of a raw QEMU (-qmp unix:PATH,server=on,wait=off)");
    add->add_flag("--libvirt", args->libvirt_domain, "the VM is a libvirt domain; hyvd reaches it through libvirt")
        ->excludes(qmp_option);
    add->add_option("--uuid", args->uuid, "VM UUID (optional, informational)");
    add->callback([args, &request] {
        json body{{"name", args->name}, {"kind", args->libvirt_domain ? "libvirt" : "qemu"}};
        if (!args->qmp_path.empty()) {
            body["qmp"] = std::filesystem::absolute(args->qmp_path).lexically_normal().string();
        }
        if (!args->uuid.empty()) {
            body["uuid"] = args->uuid;
        }
        request = {"vm-add", body, hyv::cli::format_vm};
    });
}

void add_vm_remove(CLI::App& vm, Request& request)
{
    auto name = std::make_shared<std::string>();
    auto* remove = vm.add_subcommand("remove", "forget a VM (detach its devices first)");
    remove->add_option("NAME", *name, "VM name")->required();
    remove->callback([name, &request] {
        request = {"vm-remove", json{{"name", *name}},
                   [](const json& result) { return fmt::format("VM {} removed\n", result.value("name", "")); }};
    });
}

void add_vm(CLI::App& app, Request& request)
{
    auto* vm = app.add_subcommand("vm", "add or remove a VM")->require_subcommand(1);
    add_vm_add(*vm, request);
    add_vm_remove(*vm, request);
}

struct IdentityArgs {
    std::vector<std::string> ips;
    std::string mac;
    std::string vlan;
    bool unisolated = false;
};

// The API's "identity" object, validated here so that a wrong or missing identity is refused
// before anything reaches hyvd.
hyv::Result<json> identity_json(const IdentityArgs& args)
{
    hyv::NetworkIdentity identity;
    identity.unisolated = args.unisolated;
    for (const auto& text : args.ips) {
        auto address = hyv::IpPrefix::parse(text);
        if (!address) {
            return address.error();
        }
        identity.addresses.push_back(*address);
    }
    if (!args.mac.empty()) {
        auto mac = hyv::MacAddress::parse(args.mac);
        if (!mac) {
            return mac.error();
        }
        identity.mac = *mac;
    }
    if (!args.vlan.empty()) {
        auto vlan = hyv::VlanId::parse(args.vlan);
        if (!vlan) {
            return vlan.error();
        }
        identity.vlan = *vlan;
    }
    if (auto valid = identity.validate(); !valid) {
        return valid.error();
    }
    if (identity.unisolated) {
        return json{{"unisolated", true}};
    }
    json out{{"addresses", json::array()}};
    for (const auto& address : identity.addresses) {
        out["addresses"].push_back(address.to_string());
    }
    if (identity.mac) {
        out["mac"] = identity.mac->to_string();
    }
    if (identity.vlan) {
        out["vlan"] = identity.vlan->value();
    }
    return out;
}

// The GUID goes into the request as typed; main checks and normalizes it after parsing.
void add_attach(CLI::App& app, Request& request)
{
    struct Args {
        std::string vm;
        std::string guid;
        std::optional<std::uint32_t> qps;
        std::optional<std::uint32_t> cqs;
        std::optional<std::uint32_t> mrs;
        std::optional<std::uint64_t> pinned;
        bool persistent = false;
        IdentityArgs identity;
    };
    auto args = std::make_shared<Args>();
    auto* attach = app.add_subcommand(
        "attach", "hot-add host device GUID to running VM with its network identity (--ip or --unisolated)");
    attach->footer("Network identity, exactly one of: --ip (repeatable, optional --mac, --vlan): the VM's own\n"
                   "addresses, made a macvlan (or VLAN) link of the RDMA device's netdev whose RoCE GIDs are the\n"
                   "only ones the guest sees and uses; or --unisolated: the guest sees and may use all of the\n"
                   "host's GIDs (no isolation). See docs/network.md.");
    attach->add_option("VM", args->vm, "VM name (see `hyvctl vms`)")->required();
    attach->add_option("GUID", args->guid, "node GUID as `hyvctl devices` shows it, e.g. 0002:c903:00a1:b2c3")
        ->required();
    attach->add_option("--quota-qps", args->qps, "max QPs the guest may create (default: hyvd's)");
    attach->add_option("--quota-cqs", args->cqs, "max CQs (default: hyvd's)");
    attach->add_option("--quota-mrs", args->mrs, "max MRs (default: hyvd's)");
    attach->add_option("--quota-pinned", args->pinned, "max bytes of guest memory pinned by MRs (default: hyvd's)");
    attach->add_flag("--persistent", args->persistent, "keep the assignment across VM restarts");
    attach
        ->add_option("--ip", args->identity.ips,
                     "an address of the VM on the RDMA network, ADDR/PREFIX (IPv4 or IPv6); repeatable")
        ->type_name("ADDR/PREFIX");
    attach
        ->add_option("--mac", args->identity.mac,
                     "MAC address of the VM's host link (default: random locally administered; with --vlan: "
                     "the RDMA netdev's)")
        ->type_name("MAC");
    attach->add_option("--vlan", args->identity.vlan, "put the identity on VLAN N (1-4094) of the RDMA netdev")
        ->type_name("N");
    attach->add_flag("--unisolated", args->identity.unisolated,
                     "no identity of its own: the guest sees and may use ALL of the host's GIDs (no isolation)");
    attach->callback([args, &request] {
        json quota = json::object();
        if (args->qps) {
            quota["qps"] = *args->qps;
        }
        if (args->cqs) {
            quota["cqs"] = *args->cqs;
        }
        if (args->mrs) {
            quota["mrs"] = *args->mrs;
        }
        if (args->pinned) {
            quota["pinned_bytes"] = *args->pinned;
        }
        auto identity = identity_json(args->identity);
        request = {"attach",
                   json{{"vm", args->vm}, {"guid", args->guid}, {"quota", quota}, {"persistent", args->persistent}},
                   [](const json& result) { return hyv::cli::format_operation("attached", result); }};
        if (identity) {
            request.args["identity"] = *identity;
        } else {
            request.invalid = identity.error();
        }
    });
}

void add_detach(CLI::App& app, Request& request)
{
    struct Args {
        std::string vm;
        std::string guid;
        std::optional<unsigned> timeout_s;
    };
    auto args = std::make_shared<Args>();
    auto* detach =
        app.add_subcommand("detach", "hot-remove GUID from VM (the guest must release it) and drop its mdev");
    detach->add_option("VM", args->vm, "VM name")->required();
    detach->add_option("GUID", args->guid, "node GUID")->required();
    detach->add_option("--wait", args->timeout_s, "seconds to wait for the guest (default: hyvd's --detach-timeout)")
        ->check(CLI::Range(1u, 3600u));
    detach->callback([args, &request] {
        json body{{"vm", args->vm}, {"guid", args->guid}};
        if (args->timeout_s) {
            constexpr unsigned ms_per_second = 1000;
            body["timeout_ms"] = *args->timeout_s * ms_per_second;
        }
        request = {"detach", body, [](const json& result) { return hyv::cli::format_operation("detached", result); }};
    });
}

void add_list(CLI::App& app, Request& request)
{
    auto vm = std::make_shared<std::string>();
    auto* list = app.add_subcommand("list", "assignments (all, or of one VM)");
    list->add_option("VM", *vm, "only this VM");
    list->callback([vm, &request] {
        request = {"list", vm->empty() ? json::object() : json{{"vm", *vm}}, hyv::cli::format_assignments};
    });
}

void add_events(CLI::App& app, Request& request)
{
    struct Args {
        std::int64_t since = 0;
        std::size_t limit = 100;
    };
    auto args = std::make_shared<Args>();
    auto* events = app.add_subcommand("events", "audit log of every operation step, oldest first");
    events->add_option("--since", args->since, "only events with an id above this")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    events->add_option("--limit", args->limit, "at most this many")->capture_default_str()->check(CLI::Range(1, 10000));
    events->callback([args, &request] {
        request = {"events", json{{"since", args->since}, {"limit", args->limit}}, hyv::cli::format_events};
    });
}

void add_version(CLI::App& app, Request& request)
{
    auto* version = app.add_subcommand("version", "versions of hyvctl and of the hyvd it talks to");
    version->callback([&request] {
        request = {"version", json::object(), [](const json& result) {
                       return fmt::format("hyvctl {}\nhyvd {} (API {})\n", HYV_VERSION, result.value("version", "?"),
                                          result.value("api", 0));
                   }};
    });
}

// Parses the command line; an exit code when hyvctl is done (help, version, usage error).
std::optional<int> parse(CLI::App& app, int argc, char** argv)
{
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return exit_codes::usage;
    }
    return std::nullopt;
}

// Sends the request and prints its answer: a table, or the result JSON with --json.
int run(const Globals& globals, const Request& request)
{
    const hyv::cli::CallOptions options{globals.socket, std::chrono::seconds(globals.timeout_s)};
    auto result = hyv::cli::call(options, request.cmd, request.args);
    if (!result) {
        return report_error(globals, result.error());
    }
    if (globals.json_output) {
        std::cout << result->dump(2) << "\n";
    } else {
        std::cout << request.render(*result);
    }
    return exit_codes::ok;
}

}  // namespace

int main(int argc, char** argv)
{
    CLI::App app{
        "hyvctl: assign host RDMA devices (by node GUID) to running VMs through hyvd.\n"
        "Example: hyvctl vm add vm1 --qmp /run/vm1.qmp && hyvctl attach vm1 0002:c903:00a1:b2c3 --ip 10.0.0.5/24",
        "hyvctl"};
    app.fallthrough();
    app.require_subcommand(1);
    app.set_version_flag("--version", HYV_VERSION);
    Globals globals;
    add_global_options(app, globals);
    app.footer("Exit codes: 0 ok, 1 hyvd refused or the operation failed, 2 usage error, 3 hyvd unreachable,\n"
               "4 no usable answer (timeout, dropped connection, version mismatch).");

    Request request;
    add_query(app, request, "devices", "host RDMA devices hyvd knows (rescans first)", hyv::cli::format_devices);
    add_query(app, request, "vms", "VMs hyvd manages, with their running state", hyv::cli::format_vms);
    add_vm(app, request);
    add_attach(app, request);
    add_detach(app, request);
    add_list(app, request);
    add_query(app, request, "status", "daemon summary and assignments that need attention", hyv::cli::format_status);
    add_events(app, request);
    add_query(app, request, "reconcile", "finish or roll back half-done operations now", hyv::cli::format_reconcile);
    add_version(app, request);

    if (auto done = parse(app, argc, argv)) {
        return *done;
    }
    if (request.invalid) {
        fmt::print(stderr, "hyvctl: {} [{}]\n", request.invalid->message, request.invalid->code);
        return exit_codes::usage;
    }
    if (request.cmd == "attach" || request.cmd == "detach") {
        auto normal = checked_guid(request.args["guid"].get<std::string>());
        if (!normal) {
            return exit_codes::usage;
        }
        request.args["guid"] = *normal;
    }
    return run(globals, request);
}
