// hyvd's settings: command-line flags, each also accepted as "name = value" in the config file
// (CLI11's native config support; hyvd/hyvd.conf.example documents every key and default).
#pragma once

#include "hyv/result.hpp"
#include "hyv/types.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace hyv::daemon {

struct DaemonConfig {
    std::string config_path = "/etc/hyv/hyvd.conf";
    std::string db_path = "/var/lib/hyv/hyv.db";
    std::string socket_path = "/run/hyv/hyvd.sock";
    std::string group;                 // empty: only root (and hyvd's own user) may use the socket
    std::string socket_mode = "0660";  // octal
    std::size_t max_connections = 32;
    unsigned client_idle_timeout_s = 300;
    std::string libvirt_uri = "qemu:///system";
    std::string log_level = "info";
    std::string log_target = "auto";  // auto, journal, stderr (hyvd/log_target.hpp)
    unsigned detach_timeout_s = 10;
    unsigned reconcile_detach_timeout_s = 2;  // per device; reconcile at start blocks serving meanwhile
    bool reconcile_on_start = true;
    std::string mdev_lifecycle = "hyvd";  // or "orchestrator": hyvd creates and removes no mdev
    std::string metrics_file;             // empty: no metrics file
    unsigned metrics_interval_s = 15;
    std::string sysfs_root = "/sys";  // tests point this at a fake tree
    Quota default_quota{.max_qps = 1024, .max_cqs = 1024, .max_mrs = 4096, .max_pinned_bytes = 1ull << 30};

    // Filled by resolve().
    std::optional<gid_t> group_id;
    mode_t socket_mode_bits = 0660;
};

// Registers every flag (and --config) on `app`, bound to `config`.
void add_options(CLI::App& app, DaemonConfig& config);

// Checks values CLI11 cannot (log level, octal mode, group name → gid); one-line errors.
Result<void> resolve(DaemonConfig& config);

// A reload (SIGHUP, `systemctl reload hyvd`) applies the log level only: every other setting is bound
// at start (socket, database, adapters, defaults handed to the core). The flag names of those that
// differ between the running and the re-read settings, for the log line saying they wait for a restart.
std::vector<std::string> restart_only_changes(const DaemonConfig& running, const DaemonConfig& reread);

}  // namespace hyv::daemon
