// hyvd: the hyv management daemon. Wires the core service to its adapters (sqlite store,
// sysfs mdevs, ibverbs inventory, hypervisors) and serves the API socket until SIGTERM/SIGINT;
// SIGHUP re-reads the settings (docs/operations.md).
#include "hyvd/adapters/ibverbs_inventory.hpp"
#include "hyvd/adapters/netlink_identity.hpp"

#include "hyv/error_codes.hpp"
#include "hyvd/adapters/libvirt_hotplug.hpp"
#include "hyvd/adapters/qmp_hotplug.hpp"
#include "hyvd/adapters/sqlite_store.hpp"
#include "hyvd/adapters/sysfs_mdev.hpp"
#include "hyvd/api/dispatcher.hpp"
#include "hyvd/api/socket_server.hpp"
#include "hyvd/config.hpp"
#include "hyvd/log_target.hpp"
#include "hyvd/metrics.hpp"
#include "hyvd/port_hooks.hpp"
#include "hyvd/core/service.hpp"
#include "hyvd/reconcile_trigger.hpp"

#include <csignal>
#include <cstdlib>
#include <pthread.h>
#include <systemd/sd-daemon.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <thread>

#ifndef HYV_VERSION
#define HYV_VERSION "unknown"
#endif

namespace {

using hyv::daemon::DaemonConfig;

// Exit codes (docs/hyvctl.md lists them next to hyvctl's).
constexpr int exit_ok = 0;
constexpr int exit_startup_failed = 1;
constexpr int exit_usage = 2;

int fail(const hyv::Error& error)
{
    spdlog::error("hyvd cannot start: {}", error.message);
    return exit_startup_failed;
}

hyv::Result<void> create_parent_dir(const std::string& path, const char* what)
{
    const auto parent = std::filesystem::path(path).parent_path();
    if (parent.empty()) {
        return {};
    }
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
        return hyv::make_error(hyv::errc::config, fmt::format("cannot create {} directory {}: {}; create it or choose "
                                                              "another path",
                                                              what, parent.string(), ec.message()));
    }
    return {};
}

hyv::core::ServiceConfig service_config(const DaemonConfig& config)
{
    hyv::core::ServiceConfig service;
    service.default_quota = config.default_quota;
    service.default_detach_timeout = std::chrono::seconds(config.detach_timeout_s);
    service.reconcile_detach_timeout = std::chrono::seconds(config.reconcile_detach_timeout_s);
    service.manage_mdevs = config.mdev_lifecycle == "hyvd";
    return service;
}

// Reads the command line and the config file again, as at start.
using ConfigReader = std::function<hyv::Result<DaemonConfig>()>;

// SIGHUP (`systemctl reload hyvd`): the new log level applies at once; settings bound at start are
// named, so the operator knows a restart is needed, and a config file that does not parse any more
// changes nothing.
void reload(const DaemonConfig& running, const ConfigReader& read_config)
{
    (void)sd_notify(0, "RELOADING=1");
    auto fresh = read_config();
    if (!fresh) {
        spdlog::warn("reload: {}; keeping the running settings", fresh.error().message);
    } else {
        spdlog::set_level(spdlog::level::from_str(fresh->log_level));
        spdlog::info("reload: log level {}", fresh->log_level);
        if (auto pending = hyv::daemon::restart_only_changes(running, *fresh); !pending.empty()) {
            spdlog::warn("reload: {} changed; takes effect at the next restart (systemctl restart hyvd)",
                         fmt::join(pending, ", "));
        }
    }
    (void)sd_notify(0, "READY=1");
}

int run_daemon(const DaemonConfig& config, const ConfigReader& read_config)
{
    // Signals are taken synchronously by the main thread; every thread started below inherits the mask.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    if (auto made = create_parent_dir(config.db_path, "database"); !made) {
        return fail(made.error());
    }
    auto store = hyv::adapters::SqliteStore::open(config.db_path);
    if (!store) {
        return fail(store.error());  // "db-locked" names the other daemon's database and the fix
    }
    hyv::adapters::SysfsMdev mdev(config.sysfs_root);
    hyv::adapters::IbverbsInventory inventory(config.sysfs_root);
    hyv::adapters::NetlinkIdentity identity;

    hyv::core::Ports ports;
    ports.store = store->get();
    ports.mdev = &mdev;
    ports.inventory = &inventory;
    ports.identity = &identity;
    hyv::adapters::QmpHotplug qmp;
    // Connects lazily: hyvd starts (and serves raw QEMU VMs) while libvirtd is down.
    hyv::adapters::LibvirtHotplug libvirt(hyv::adapters::LibvirtHotplugOptions{config.libvirt_uri});
    ports.hypervisors[hyv::VmKind::qemu] = &qmp;
    ports.hypervisors[hyv::VmKind::libvirt] = &libvirt;
    const auto hooks = hyv::daemon::install_port_hooks(ports);
    hyv::core::Service service(ports, service_config(config));

    if (config.reconcile_on_start) {
        auto report = service.reconcile();
        if (report) {
            hyv::daemon::log_reconcile(*report);
        } else {
            spdlog::warn("reconcile at start failed: {}; state may be stale until `hyvctl reconcile` succeeds",
                         report.error().message);
        }
    }

    // Declared before everything that calls the service from other threads, so it outlives them.
    std::optional<hyv::daemon::MetricsWriter> metrics;
    if (!config.metrics_file.empty()) {
        metrics.emplace(service, mdev, config.sysfs_root, config.metrics_file,
                        std::chrono::seconds(config.metrics_interval_s));
        service.set_change_listener([&metrics] { metrics->poke(); });
    }

    // libvirt domain events (and a restarted libvirtd) keep the database true without polling.
    constexpr auto kLibvirtRetry = std::chrono::seconds(5);
    hyv::daemon::ReconcileTrigger trigger(
        service,
        [&libvirt] {
            if (auto watching = libvirt.keep_watching(); !watching) {
                spdlog::debug("libvirt events: {}", watching.error().message);
            }
        },
        kLibvirtRetry);
    auto watching = libvirt.watch([&trigger](const std::string& domain, const std::string& what) {
        trigger.request(domain.empty() ? "libvirt " + what : "domain " + domain + " " + what);
    });
    if (!watching) {
        spdlog::debug("libvirt events: {}; retrying every {} s", watching.error().message, kLibvirtRetry.count());
    }

    hyv::api::Dispatcher dispatcher(service);
    hyv::api::ServerOptions options;
    options.socket_path = config.socket_path;
    options.socket_mode = config.socket_mode_bits;
    options.group = config.group_id;
    options.max_connections = config.max_connections;
    options.idle_timeout = std::chrono::seconds(config.client_idle_timeout_s);
    auto server = hyv::api::SocketServer::listen(
        options, [&dispatcher](std::string_view line, const hyv::api::PeerCredentials& peer) {
            return dispatcher.handle(line, peer);
        });
    if (!server) {
        return fail(server.error());
    }
    hooks->serving();
    std::thread accept_thread([&server] { (*server)->run(); });
    spdlog::info("hyvd {} ready: db {}, socket {}, group {}, mdevs made by {}", HYV_VERSION, config.db_path,
                 config.socket_path, config.group.empty() ? "(root only)" : config.group, config.mdev_lifecycle);
    // Type=notify: systemd orders hyvctl users and libvirt guests after this, so it comes only once
    // the socket accepts and reconcile at start is done. Without NOTIFY_SOCKET it does nothing.
    (void)sd_notifyf(0, "READY=1\nSTATUS=serving on %s", config.socket_path.c_str());

    int signal_number = 0;
    while (sigwait(&signals, &signal_number) == 0 && signal_number == SIGHUP) {
        reload(config, read_config);
    }
    spdlog::info("hyvd: {} received, shutting down", strsignal(signal_number));
    (void)sd_notify(0, "STOPPING=1\nSTATUS=finishing requests in flight");
    (*server)->stop();
    accept_thread.join();
    server->reset();          // waits for requests in flight, removes the socket
    (void)libvirt.watch({});  // no event may reach the trigger while it is destroyed
    spdlog::info("hyvd stopped");
    return exit_ok;
}

}  // namespace

int main(int argc, char** argv)
{
    CLI::App app{"hyvd: assigns host RDMA devices (by node GUID) to running VMs as hyv mediated devices", "hyvd"};
    DaemonConfig config;
    hyv::daemon::add_options(app, config);
    app.set_version_flag("--version", HYV_VERSION);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return exit_usage;
    }
    if (auto resolved = hyv::daemon::resolve(config); !resolved) {
        fmt::print(stderr, "hyvd: {}\n", resolved.error().message);
        return exit_usage;
    }
    auto target = hyv::daemon::choose_log_target(config.log_target, std::getenv("JOURNAL_STREAM"));
    if (!target) {
        fmt::print(stderr, "hyvd: {}\n", target.error().message);
        return exit_usage;
    }
    hyv::daemon::setup_logging(*target, config.log_level);
    return run_daemon(config, [argc, argv, path = config.config_path]() -> hyv::Result<DaemonConfig> {
        CLI::App again{"hyvd", "hyvd"};
        DaemonConfig fresh;
        hyv::daemon::add_options(again, fresh);
        try {
            again.parse(argc, argv);
        } catch (const CLI::Error& e) {
            return hyv::make_error(hyv::errc::config, fmt::format("{} ({})", e.what(), path));
        }
        if (auto resolved = hyv::daemon::resolve(fresh); !resolved) {
            return resolved.error();
        }
        return fresh;
    });
}
