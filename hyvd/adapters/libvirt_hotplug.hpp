// core::Hypervisor for libvirt domains (docs/libvirt.md):
//   hot-plug: live attach/detach of <hostdev mode='subsystem' type='mdev' model='vfio-pci'> with the user
//     alias "ua-<qdev_id>", so QEMU's device id, libvirt's alias and hyvd's qdev_id stay related. Detach
//     waits for libvirt's device-removed event and also re-reads the live XML. Guest PCI addresses come
//     from the live XML (libvirt's view, where the bus is the PCI controller index).
//   definition (libvirt_definition.cpp): every attach is recorded as <hyv:device> metadata in the live
//     XML; persistent ones also as hostdev + metadata in the persistent definition, which the libvirt
//     hook (libvirt-hooks/) turns into an mdev when the domain starts.
//   events (libvirt_events.cpp): lifecycle and device-removed events of every domain, and the loss of
//     the connection, reported to a callback so hyvd reconciles without polling.
#pragma once

#include "hyvd/core/ports.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

struct _virConnect;

namespace hyv::adapters {

struct LibvirtHotplugOptions {
    std::string uri = "qemu:///system";
};

class LibvirtHotplug final : public core::Hypervisor {
public:
    explicit LibvirtHotplug(LibvirtHotplugOptions options = {});
    ~LibvirtHotplug() override;
    LibvirtHotplug(const LibvirtHotplug&) = delete;
    LibvirtHotplug& operator=(const LibvirtHotplug&) = delete;

    // Running = the domain exists and is active; an unknown domain is not running.
    Result<bool> is_running(const core::VmRecord& vm) override;
    Result<std::string> hot_add(const core::VmRecord& vm, const MdevUuid& mdev, const std::string& qdev_id) override;
    Result<void> hot_remove(const core::VmRecord& vm, const std::string& qdev_id,
                            std::chrono::milliseconds timeout) override;
    Result<std::vector<core::PresentDevice>> list_hyv_devices(const core::VmRecord& vm) override;

    bool defines_devices() const override { return true; }
    Result<void> record(const core::VmRecord& vm, const core::Assignment& a) override;
    Result<void> forget(const core::VmRecord& vm, const core::Assignment& a) override;
    // Persistent domains with <hyv:devices> in their persistent definition. A domain whose metadata
    // does not parse is skipped with a warning naming it (the hook refuses to start it, with the cause).
    Result<std::vector<core::DeclaredVm>> declared_vms() override;
    // libvirtd cannot be reached at the URI (down, no socket, refused): error "libvirt-connect".
    bool unreachable(const Error& error) const override;

    // What happened to which domain ("started", "stopped", "defined", ...; domain "" with
    // "connection-lost" / "connected" for libvirtd itself). Runs on libvirt's event thread: must not block.
    using EventCallback = std::function<void(const std::string& domain, const std::string& what)>;
    // Subscribes to lifecycle and device-removed events of every domain, now and on every later
    // (re)connection; error when libvirtd cannot be reached now (call keep_watching() later).
    // An empty callback stops watching.
    Result<void> watch(EventCallback callback);
    // Reconnects if the connection was lost (every new connection reports "connected"); cheap when connected.
    Result<void> keep_watching();

private:
    using Connection = std::shared_ptr<_virConnect>;
    Result<Connection> connection();
    void subscribe(_virConnect* connection);  // with mutex_ held
    void unsubscribe();                       // with mutex_ held

    LibvirtHotplugOptions options_;
    std::mutex mutex_;
    Connection connection_;
    EventCallback callback_;
    std::vector<int> callback_ids_;
    bool close_callback_registered_ = false;
};

}  // namespace hyv::adapters
