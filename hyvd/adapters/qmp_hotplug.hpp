// core::Hypervisor for raw QEMU VMs, through the QMP socket recorded for the VM (VmRecord::qmp_socket).
//
// QEMU serves one QMP client per socket, so hyvd opens a short connection per call, or one per
// operation while the core holds the VM (hold()), and closes it again: hyvd never keeps an
// operator's socket busy between operations, and a restarted QEMU needs no special handling.
// Calls on the same socket are serialized.
#pragma once

#include "hyvd/core/ports.hpp"

#include <hyv/qmp/client.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace hyv::adapters {

struct QmpHotplugOptions {
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds command_timeout{10000};
};

class QmpHotplug final : public core::Hypervisor {
public:
    explicit QmpHotplug(QmpHotplugOptions options = {});

    // Running = QMP answers and the guest is not shut down or migrated away (paused counts as
    // running: it takes device_add). No socket, or nobody listening on it = not running.
    std::unique_ptr<Hold> hold(const core::VmRecord& vm) override;
    Result<bool> is_running(const core::VmRecord& vm) override;
    Result<std::string> hot_add(const core::VmRecord& vm, const MdevUuid& mdev, const std::string& qdev_id) override;
    Result<void> hot_remove(const core::VmRecord& vm, const std::string& qdev_id,
                            std::chrono::milliseconds timeout) override;
    Result<std::vector<core::PresentDevice>> list_hyv_devices(const core::VmRecord& vm) override;
    Result<std::optional<core::PresentDevice>> find_hyv_device(const core::VmRecord& vm, const MdevUuid& mdev,
                                                               const std::string& qdev_id) override;

private:
    // One connection to a VM's socket: its own (lock taken, connection owned) or borrowed from the
    // hold() this thread has on the socket (neither).
    struct Session {
        std::unique_lock<std::mutex> lock;
        std::unique_ptr<qmp::Client> owned;
        qmp::Client* client = nullptr;
    };
    class SocketHold;
    Result<Session> open(const core::VmRecord& vm);
    std::mutex& socket_lock(const std::string& socket);
    static Result<std::vector<core::PresentDevice>> list_devices(qmp::Client& client, const core::VmRecord& vm);

    QmpHotplugOptions options_;
    std::mutex sockets_mutex_;
    std::map<std::string, std::unique_ptr<std::mutex>> socket_locks_;
    struct Held {
        std::thread::id owner;
        qmp::Client* client = nullptr;
    };
    std::map<std::string, Held> held_;  // by socket; guarded by sockets_mutex_
};

}  // namespace hyv::adapters
