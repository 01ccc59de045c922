#include "hyvd/adapters/qmp_hotplug.hpp"

#include <hyv/error_codes.hpp>
#include <hyv/qmp/pci.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string_view>

namespace hyv::adapters {

namespace {

using core::PresentDevice;
using core::VmRecord;
using qmp::Json;

constexpr std::string_view kMdevSysfsPrefix = "/sys/bus/mdev/devices/";
constexpr auto kEventSlice = std::chrono::milliseconds(500);

bool is_unreachable(const Error& error)
{
    return error.code == errc::qmp_connect;
}

Error with_vm(const VmRecord& vm, const Error& error)
{
    return make_error(error.code, "VM " + vm.name.str() + ": " + error.message);
}

std::string string_or_empty(const Json& value)
{
    return value.is_string() ? value.get<std::string>() : std::string{};
}

// The mdev behind a vfio-pci sysfsdev path, if it is one ("/sys/bus/mdev/devices/<uuid>[/]").
std::optional<MdevUuid> mdev_of(std::string device_path)
{
    while (device_path.size() > kMdevSysfsPrefix.size() && device_path.back() == '/') {
        device_path.pop_back();
    }
    if (device_path.rfind(kMdevSysfsPrefix, 0) != 0) {
        return std::nullopt;
    }
    auto uuid = MdevUuid::parse(std::string_view(device_path).substr(kMdevSysfsPrefix.size()));
    return uuid ? std::optional<MdevUuid>(*uuid) : std::nullopt;
}

// QEMU 7.2 refuses a second device_del while the first one waits for the guest.
bool unplug_already_pending(const Error& error)
{
    return error.message.find("in the process of unplug") != std::string::npos ||
           error.message.find("already in progress") != std::string::npos;
}

}  // namespace

QmpHotplug::QmpHotplug(QmpHotplugOptions options) : options_(options) {}

std::mutex& QmpHotplug::socket_lock(const std::string& socket)
{
    std::lock_guard guard(sockets_mutex_);
    auto& slot = socket_locks_[socket];
    if (!slot) {
        slot = std::make_unique<std::mutex>();
    }
    return *slot;
}

Result<QmpHotplug::Session> QmpHotplug::open(const VmRecord& vm)
{
    if (vm.qmp_socket.empty()) {
        return make_error(errc::vm_no_qmp_socket,
                          "VM " + vm.name.str() + " has no QMP socket recorded; re-add it with its -qmp unix: path");
    }
    {
        std::lock_guard guard(sockets_mutex_);
        auto held = held_.find(vm.qmp_socket);
        if (held != held_.end() && held->second.owner == std::this_thread::get_id()) {
            return Session{{}, nullptr, held->second.client};
        }
    }
    Session session{std::unique_lock(socket_lock(vm.qmp_socket)), nullptr, nullptr};
    qmp::ClientOptions client_options;
    client_options.socket_path = vm.qmp_socket;
    client_options.label = vm.name.str();
    client_options.connect_timeout = options_.connect_timeout;
    client_options.command_timeout = options_.command_timeout;
    client_options.auto_reconnect = false;
    session.owned = std::make_unique<qmp::Client>(client_options);
    if (auto connected = session.owned->connect(); !connected) {
        return connected.error();
    }
    session.client = session.owned.get();
    return session;
}

// A session lent to every call this thread makes on the socket until the hold ends.
class QmpHotplug::SocketHold final : public core::Hypervisor::Hold {
public:
    SocketHold(QmpHotplug& owner, std::string socket, Session session)
        : owner_(owner), socket_(std::move(socket)), session_(std::move(session))
    {
        std::lock_guard guard(owner_.sockets_mutex_);
        owner_.held_[socket_] = Held{std::this_thread::get_id(), session_.client};
    }
    ~SocketHold() override
    {
        std::lock_guard guard(owner_.sockets_mutex_);
        owner_.held_.erase(socket_);
    }
    SocketHold(const SocketHold&) = delete;
    SocketHold& operator=(const SocketHold&) = delete;

private:
    QmpHotplug& owner_;
    std::string socket_;
    Session session_;
};

std::unique_ptr<core::Hypervisor::Hold> QmpHotplug::hold(const VmRecord& vm)
{
    auto session = open(vm);
    if (!session || !session->owned) {
        // Unreachable now (each call then reports it) or already held by this thread.
        return nullptr;
    }
    return std::make_unique<SocketHold>(*this, vm.qmp_socket, std::move(*session));
}

Result<bool> QmpHotplug::is_running(const VmRecord& vm)
{
    auto session = open(vm);
    if (!session) {
        if (is_unreachable(session.error())) {
            return false;
        }
        return with_vm(vm, session.error());
    }
    auto status = session->client->execute("query-status");
    if (!status) {
        return with_vm(vm, status.error());
    }
    // A paused QEMU (-S, stop, migration source before completion) still takes device_add, so it
    // counts as running; only a QEMU that is done with its guest does not.
    const std::string state = status->is_object() ? string_or_empty(status->value("status", Json())) : "";
    return state != "shutdown" && state != "postmigrate" && state != "inmigrate";
}

Result<std::string> QmpHotplug::hot_add(const VmRecord& vm, const MdevUuid& mdev, const std::string& qdev_id)
{
    auto session = open(vm);
    if (!session) {
        return with_vm(vm, session.error());
    }
    qmp::Client& client = *session->client;
    // A retry after a crash between device_add and recording it finds the device already there.
    auto exists = qmp::device_exists(client, qdev_id);
    if (!exists) {
        return with_vm(vm, exists.error());
    }
    if (*exists) {
        auto sysfsdev =
            client.execute("qom-get", {{"path", "/machine/peripheral/" + qdev_id}, {"property", "sysfsdev"}});
        if (!sysfsdev || string_or_empty(*sysfsdev) != qmp::mdev_sysfs_path(mdev.to_string())) {
            return make_error(errc::qdev_id_in_use, "VM " + vm.name.str() + " already has a device " + qdev_id +
                                                        " that is not mdev " + mdev.to_string() +
                                                        "; remove it (device_del) or pick another id");
        }
        spdlog::info("vm {}: mdev {} is already plugged as {}", vm.name.str(), mdev.to_string(), qdev_id);
        auto address = qmp::guest_pci_address(client, qdev_id);
        return address ? address->to_string() : std::string{};
    }
    auto plugged = qmp::plug_vfio_mdev(client, {.mdev_uuid = mdev.to_string(), .qdev_id = qdev_id, .bus = {}});
    if (!plugged) {
        return with_vm(vm, plugged.error());
    }
    spdlog::info("vm {}: hot-added mdev {} as {} on {}", vm.name.str(), mdev.to_string(), qdev_id, plugged->bus);
    auto address = qmp::guest_pci_address(client, qdev_id);
    if (!address) {
        // The device is in; the guest just has not numbered the port's bus yet (firmware still running).
        spdlog::debug("vm {}: {} has no guest PCI address yet: {}", vm.name.str(), qdev_id, address.error().message);
        return std::string{};
    }
    return address->to_string();
}

Result<void> QmpHotplug::hot_remove(const VmRecord& vm, const std::string& qdev_id, std::chrono::milliseconds timeout)
{
    auto session = open(vm);
    if (!session) {
        return with_vm(vm, session.error());
    }
    qmp::Client& client = *session->client;
    const auto deadline = qmp::Clock::now() + timeout;
    auto requested = client.execute("device_del", {{"id", qdev_id}});
    if (!requested) {
        if (requested.error().code == errc::qmp_device_not_found) {
            return {};  // already gone: the goal of hot_remove holds
        }
        if (!unplug_already_pending(requested.error())) {
            return with_vm(vm, requested.error());
        }
    }
    // The DEVICE_DELETED event may have been sent while nobody was connected (a retry after a
    // timeout), so QOM is asked between waits too.
    while (true) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - qmp::Clock::now());
        auto event = client.wait_for_event(
            "DEVICE_DELETED",
            [&](const Json& e) {
                return e.contains("data") && e["data"].is_object() && e["data"].contains("device") &&
                       string_or_empty(e["data"]["device"]) == qdev_id;
            },
            std::clamp(left, std::chrono::milliseconds(0), kEventSlice));
        if (event) {
            spdlog::info("vm {}: guest released {}", vm.name.str(), qdev_id);
            return {};
        }
        if (event.error().code != errc::qmp_timeout) {
            return with_vm(vm, event.error());
        }
        auto exists = qmp::device_exists(client, qdev_id);
        if (!exists) {
            return with_vm(vm, exists.error());
        }
        if (!*exists) {
            return {};
        }
        if (qmp::Clock::now() >= deadline) {
            return make_error(errc::hot_remove_timeout,
                              "VM " + vm.name.str() + " did not release " + qdev_id + " within " +
                                  std::to_string(timeout.count()) +
                                  " ms; the guest OS must acknowledge PCIe hot-unplug (is it booted and not hung?); "
                                  "the request stays pending in QEMU, retry the detach later");
        }
    }
}

Result<std::vector<PresentDevice>> QmpHotplug::list_hyv_devices(const VmRecord& vm)
{
    auto session = open(vm);
    if (!session) {
        return with_vm(vm, session.error());
    }
    return list_devices(*session->client, vm);
}

Result<std::optional<PresentDevice>> QmpHotplug::find_hyv_device(const VmRecord& vm, const MdevUuid& mdev,
                                                                 const std::string& qdev_id)
{
    auto session = open(vm);
    if (!session) {
        return with_vm(vm, session.error());
    }
    qmp::Client& client = *session->client;
    // The device hyvd plugged has its qdev id: two round trips instead of a walk of every device.
    auto sysfsdev = client.execute("qom-get", {{"path", "/machine/peripheral/" + qdev_id}, {"property", "sysfsdev"}});
    if (sysfsdev && mdev_of(string_or_empty(*sysfsdev)) == mdev) {
        auto pci = client.execute("query-pci");
        if (!pci) {
            return with_vm(vm, pci.error());
        }
        const auto address = qmp::find_pci_address(*pci, qdev_id);
        return std::optional<PresentDevice>(
            PresentDevice{qdev_id, mdev, address ? address->to_string() : std::string{}});
    }
    // Not under its id (no such device, or one that is no vfio-pci): an operator may have re-added
    // the mdev under another id. A broken connection fails the listing too.
    auto present = list_devices(client, vm);
    if (!present) {
        return present.error();
    }
    return find_in(*present, mdev, qdev_id);
}

Result<std::vector<PresentDevice>> QmpHotplug::list_devices(qmp::Client& client, const VmRecord& vm)
{
    auto pci = client.execute("query-pci");
    if (!pci) {
        return with_vm(vm, pci.error());
    }
    std::vector<PresentDevice> present;
    for (const std::string container : {"/machine/peripheral", "/machine/peripheral-anon"}) {
        auto children = client.execute("qom-list", {{"path", container}});
        if (!children) {
            return with_vm(vm, children.error());
        }
        if (!children->is_array()) {
            continue;
        }
        for (const auto& child : *children) {
            if (!child.is_object() || string_or_empty(child.value("type", Json())) != "child<vfio-pci>") {
                continue;
            }
            const std::string name = string_or_empty(child.value("name", Json()));
            const std::string path = container + "/" + name;
            auto sysfsdev = client.execute("qom-get", {{"path", path}, {"property", "sysfsdev"}});
            if (!sysfsdev) {
                return with_vm(vm, sysfsdev.error());
            }
            auto uuid = mdev_of(string_or_empty(*sysfsdev));
            if (!uuid) {
                continue;  // a passed-through physical function, not an mdev
            }
            // Anonymous devices can still be removed: device_del takes a QOM path as id.
            const bool anonymous = container == "/machine/peripheral-anon";
            PresentDevice device{anonymous ? path : name, *uuid, ""};
            if (!anonymous) {
                if (auto address = qmp::find_pci_address(*pci, name)) {
                    device.guest_pci_address = address->to_string();
                }
            }
            present.push_back(std::move(device));
        }
    }
    return present;
}

}  // namespace hyv::adapters
