#include "hyvd/config.hpp"

#include "hyv/error_codes.hpp"

#include <grp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <vector>

namespace hyv::daemon {

namespace {

constexpr mode_t max_socket_mode = 0777;
constexpr std::size_t group_buffer_bytes = 16 * 1024;

Result<gid_t> group_id_of(const std::string& name)
{
    group entry{};
    group* found = nullptr;
    std::vector<char> buffer(group_buffer_bytes);
    const int error = ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (error != 0 || found == nullptr) {
        return make_error(errc::config, fmt::format("group \"{}\" does not exist; create it (groupadd {}) or set "
                                                    "--group to an existing group",
                                                    name, name));
    }
    return found->gr_gid;
}

}  // namespace

void add_options(CLI::App& app, DaemonConfig& config)
{
    app.set_config("--config", config.config_path,
                   "config file of \"name = value\" lines using the long flag names (a missing default file is "
                   "fine)");
    app.allow_config_extras(CLI::config_extras_mode::error);

    app.add_option("--db", config.db_path, "sqlite database of assignments (parent dirs are created)")
        ->capture_default_str();
    app.add_option("--socket", config.socket_path, "API socket path (parent dirs are created)")->capture_default_str();
    app.add_option("--group", config.group, "group whose members may use the API socket (default: root only)");
    app.add_option("--socket-mode", config.socket_mode, "octal permissions of the API socket")->capture_default_str();
    app.add_option("--max-connections", config.max_connections, "concurrent API clients")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024));
    app.add_option("--client-idle-timeout", config.client_idle_timeout_s,
                   "seconds an API client may stay silent before it is disconnected")
        ->capture_default_str()
        ->check(CLI::Range(1u, 86400u));
    app.add_option("--libvirt-uri", config.libvirt_uri, "libvirt connection for VMs of kind libvirt")
        ->capture_default_str();
    app.add_option("--log-level", config.log_level, "trace, debug, info, warn, error")
        ->capture_default_str()
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
    app.add_option("--log-target", config.log_target,
                   "auto (the journal when started by systemd with stderr to the journal, else stderr), journal "
                   "(priorities and HYV_OP_ID, HYV_VM, HYV_GUID, HYV_MDEV fields), stderr")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "journal", "stderr"}));
    app.add_option("--detach-timeout", config.detach_timeout_s,
                   "seconds detach waits for a guest to release a device before reporting hot-remove-timeout")
        ->capture_default_str()
        ->check(CLI::Range(1u, 3600u));
    app.add_option("--reconcile-detach-timeout", config.reconcile_detach_timeout_s,
                   "seconds reconcile waits for a guest to release each device it finishes detaching")
        ->capture_default_str()
        ->check(CLI::Range(1u, 3600u));
    app.add_option("--reconcile-on-start", config.reconcile_on_start,
                   "finish or roll back half-done operations at start (true/false)")
        ->capture_default_str();
    app.add_option("--mdev-lifecycle", config.mdev_lifecycle,
                   "who creates and removes hyv mdevs: hyvd, or orchestrator (KubeVirt, Nova, mdevctl; hyvd "
                   "then refuses attach and removes no mdev)")
        ->capture_default_str()
        ->check(CLI::IsMember({"hyvd", "orchestrator"}));
    app.add_option("--metrics-file", config.metrics_file,
                   "write metrics here for node_exporter's textfile collector, e.g. "
                   "/var/lib/prometheus/node-exporter/hyv.prom (default: none)");
    app.add_option("--metrics-interval", config.metrics_interval_s,
                   "seconds between metrics file updates (it is also updated after every attach, detach, "
                   "reconcile)")
        ->capture_default_str()
        ->check(CLI::Range(1u, 3600u));
    app.add_option("--sysfs-root", config.sysfs_root, "where sysfs is mounted (tests use a fake tree)")
        ->capture_default_str();
    app.add_option("--default-quota-qps", config.default_quota.max_qps, "QPs per VM device when attach gives none")
        ->capture_default_str();
    app.add_option("--default-quota-cqs", config.default_quota.max_cqs, "CQs per VM device when attach gives none")
        ->capture_default_str();
    app.add_option("--default-quota-mrs", config.default_quota.max_mrs, "MRs per VM device when attach gives none")
        ->capture_default_str();
    app.add_option("--default-quota-pinned", config.default_quota.max_pinned_bytes,
                   "pinned guest bytes per VM device when attach gives none")
        ->capture_default_str();
}

Result<void> resolve(DaemonConfig& config)
{
    std::size_t parsed = 0;
    unsigned long mode = 0;
    try {
        mode = std::stoul(config.socket_mode, &parsed, 8);
    } catch (const std::exception&) {
        parsed = 0;
    }
    if (parsed == 0 || parsed != config.socket_mode.size() || mode > max_socket_mode) {
        return make_error(errc::config,
                          fmt::format("--socket-mode \"{}\" is not an octal mode such as 0660", config.socket_mode));
    }
    config.socket_mode_bits = static_cast<mode_t>(mode);
    if (!config.group.empty()) {
        auto gid = group_id_of(config.group);
        if (!gid) {
            return gid.error();
        }
        config.group_id = *gid;
    }
    if (config.db_path.empty() || config.socket_path.empty()) {
        return make_error(errc::config, "--db and --socket must not be empty");
    }
    return {};
}

std::vector<std::string> restart_only_changes(const DaemonConfig& running, const DaemonConfig& reread)
{
    std::vector<std::string> changed;
    const auto note = [&changed](bool differs, const char* flag) {
        if (differs) {
            changed.emplace_back(flag);
        }
    };
    note(running.db_path != reread.db_path, "db");
    note(running.socket_path != reread.socket_path, "socket");
    note(running.group != reread.group, "group");
    note(running.socket_mode_bits != reread.socket_mode_bits, "socket-mode");
    note(running.max_connections != reread.max_connections, "max-connections");
    note(running.client_idle_timeout_s != reread.client_idle_timeout_s, "client-idle-timeout");
    note(running.libvirt_uri != reread.libvirt_uri, "libvirt-uri");
    note(running.log_target != reread.log_target, "log-target");
    note(running.detach_timeout_s != reread.detach_timeout_s, "detach-timeout");
    note(running.reconcile_detach_timeout_s != reread.reconcile_detach_timeout_s, "reconcile-detach-timeout");
    note(running.reconcile_on_start != reread.reconcile_on_start, "reconcile-on-start");
    note(running.mdev_lifecycle != reread.mdev_lifecycle, "mdev-lifecycle");
    note(running.metrics_file != reread.metrics_file, "metrics-file");
    note(running.metrics_interval_s != reread.metrics_interval_s, "metrics-interval");
    note(running.sysfs_root != reread.sysfs_root, "sysfs-root");
    note(running.default_quota != reread.default_quota, "default-quota-*");
    return changed;
}

}  // namespace hyv::daemon
