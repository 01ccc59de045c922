// hyvctl: the operator CLI of hyv. Every subcommand is one request to hyvd (docs/api.md);
// tables by default, the API's result JSON with --json. Exit codes are in exit_codes below
// and docs/hyvctl.md.
#include "hyvctl/client.hpp"

#include "hyv/error_codes.hpp"
#include "hyvctl/format.hpp"

#include "hyv/types.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>

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

}  // namespace

int main(int argc, char** argv)
{
    CLI::App app{"hyvctl: assign host RDMA devices (by node GUID) to running VMs through hyvd.\n"
                 "Example: hyvctl vm add vm1 --qmp /run/vm1.qmp && hyvctl attach vm1 0002:c903:00a1:b2c3",
                 "hyvctl"};
    app.fallthrough();
    app.require_subcommand(1);
    app.set_version_flag("--version", HYV_VERSION);
    Globals globals;
    if (const char* env = std::getenv("HYV_SOCKET"); env != nullptr && *env != '\0') {
        globals.socket = env;
    }
    app.add_option("--socket", globals.socket, "hyvd's API socket (env HYV_SOCKET)")->capture_default_str();
    app.add_flag("--json", globals.json_output, "print the API's result JSON instead of a table");
    app.add_option("--timeout", globals.timeout_s, "seconds to wait for hyvd's answer")
        ->capture_default_str()
        ->check(CLI::Range(1u, 86400u));
    app.footer("Exit codes: 0 ok, 1 hyvd refused or the operation failed, 2 usage error, 3 hyvd unreachable,\n"
               "4 no usable answer (timeout, dropped connection, version mismatch).");

    Request request;
    std::string vm_name;
    std::string guid_text;

    auto* devices = app.add_subcommand("devices", "host RDMA devices hyvd knows (rescans first)");
    devices->callback([&] { request = {"devices", json::object(), hyv::cli::format_devices}; });

    auto* vms = app.add_subcommand("vms", "VMs hyvd manages, with their running state");
    vms->callback([&] { request = {"vms", json::object(), hyv::cli::format_vms}; });

    auto* vm = app.add_subcommand("vm", "add or remove a VM")->require_subcommand(1);
    std::string qmp_path;
    std::string vm_uuid;
    bool libvirt_domain = false;
    auto* vm_add = vm->add_subcommand("add", "make a VM known: a raw QEMU (--qmp) or a libvirt domain (--libvirt)");
    vm_add->add_option("NAME", vm_name, "VM name (the libvirt domain name for --libvirt)")->required();
    auto* qmp_option = vm_add->add_option("--qmp", qmp_path,
                                          "QMP unix socket of a raw QEMU (-qmp unix:PATH,server=on,wait=off)");
    vm_add->add_flag("--libvirt", libvirt_domain, "the VM is a libvirt domain; hyvd reaches it through libvirt")
        ->excludes(qmp_option);
    vm_add->add_option("--uuid", vm_uuid, "VM UUID (optional, informational)");
    vm_add->callback([&] {
        json args{{"name", vm_name}, {"kind", libvirt_domain ? "libvirt" : "qemu"}};
        if (!qmp_path.empty()) {
            args["qmp"] = std::filesystem::absolute(qmp_path).lexically_normal().string();
        }
        if (!vm_uuid.empty()) {
            args["uuid"] = vm_uuid;
        }
        request = {"vm-add", args, hyv::cli::format_vm};
    });
    auto* vm_remove = vm->add_subcommand("remove", "forget a VM (detach its devices first)");
    vm_remove->add_option("NAME", vm_name, "VM name")->required();
    vm_remove->callback([&] {
        request = {"vm-remove", json{{"name", vm_name}},
                   [](const json& result) { return fmt::format("VM {} removed\n", result.value("name", "")); }};
    });

    auto* attach = app.add_subcommand("attach", "hot-add host device GUID to running VM (creates its mdev)");
    attach->add_option("VM", vm_name, "VM name (see `hyvctl vms`)")->required();
    attach->add_option("GUID", guid_text, "node GUID as `hyvctl devices` shows it, e.g. 0002:c903:00a1:b2c3")
        ->required();
    std::optional<std::uint32_t> quota_qps;
    std::optional<std::uint32_t> quota_cqs;
    std::optional<std::uint32_t> quota_mrs;
    std::optional<std::uint64_t> quota_pinned;
    bool persistent = false;
    attach->add_option("--quota-qps", quota_qps, "max QPs the guest may create (default: hyvd's)");
    attach->add_option("--quota-cqs", quota_cqs, "max CQs (default: hyvd's)");
    attach->add_option("--quota-mrs", quota_mrs, "max MRs (default: hyvd's)");
    attach->add_option("--quota-pinned", quota_pinned, "max bytes of guest memory pinned by MRs (default: hyvd's)");
    attach->add_flag("--persistent", persistent, "keep the assignment across VM restarts");
    attach->callback([&] {
        json quota = json::object();
        if (quota_qps) {
            quota["qps"] = *quota_qps;
        }
        if (quota_cqs) {
            quota["cqs"] = *quota_cqs;
        }
        if (quota_mrs) {
            quota["mrs"] = *quota_mrs;
        }
        if (quota_pinned) {
            quota["pinned_bytes"] = *quota_pinned;
        }
        request = {"attach", json{{"vm", vm_name}, {"guid", guid_text}, {"quota", quota}, {"persistent", persistent}},
                   [](const json& result) { return hyv::cli::format_operation("attached", result); }};
    });

    auto* detach = app.add_subcommand("detach", "hot-remove GUID from VM (the guest must release it) and drop its mdev");
    detach->add_option("VM", vm_name, "VM name")->required();
    detach->add_option("GUID", guid_text, "node GUID")->required();
    std::optional<unsigned> detach_timeout;
    detach->add_option("--wait", detach_timeout, "seconds to wait for the guest (default: hyvd's --detach-timeout)")
        ->check(CLI::Range(1u, 3600u));
    detach->callback([&] {
        json args{{"vm", vm_name}, {"guid", guid_text}};
        if (detach_timeout) {
            constexpr unsigned ms_per_second = 1000;
            args["timeout_ms"] = *detach_timeout * ms_per_second;
        }
        request = {"detach", args, [](const json& result) { return hyv::cli::format_operation("detached", result); }};
    });

    auto* list = app.add_subcommand("list", "assignments (all, or of one VM)");
    list->add_option("VM", vm_name, "only this VM");
    list->callback([&] {
        request = {"list", vm_name.empty() ? json::object() : json{{"vm", vm_name}}, hyv::cli::format_assignments};
    });

    auto* status = app.add_subcommand("status", "daemon summary and assignments that need attention");
    status->callback([&] { request = {"status", json::object(), hyv::cli::format_status}; });

    std::int64_t since = 0;
    std::size_t limit = 100;
    auto* events = app.add_subcommand("events", "audit log of every operation step, oldest first");
    events->add_option("--since", since, "only events with an id above this")->capture_default_str()->check(
        CLI::NonNegativeNumber);
    events->add_option("--limit", limit, "at most this many")->capture_default_str()->check(CLI::Range(1, 10000));
    events->callback([&] {
        request = {"events", json{{"since", since}, {"limit", limit}}, hyv::cli::format_events};
    });

    auto* reconcile = app.add_subcommand("reconcile", "finish or roll back half-done operations now");
    reconcile->callback([&] { request = {"reconcile", json::object(), hyv::cli::format_reconcile}; });

    auto* version = app.add_subcommand("version", "versions of hyvctl and of the hyvd it talks to");
    version->callback([&] {
        request = {"version", json::object(), [](const json& result) {
                       return fmt::format("hyvctl {}\nhyvd {} (API {})\n", HYV_VERSION, result.value("version", "?"),
                                          result.value("api", 0));
                   }};
    });

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
    if (request.cmd == "attach" || request.cmd == "detach") {
        auto normal = checked_guid(guid_text);
        if (!normal) {
            return exit_codes::usage;
        }
        request.args["guid"] = *normal;
    }

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
