// core::Hypervisor for libvirt domains: live attach/detach of
//   <hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='...'/></source></hostdev>
// with the user alias "ua-<qdev_id>", so QEMU's device id, libvirt's alias and hyvd's qdev_id stay related.
//
// Detach waits for libvirt's device-removed event (delivered by a process-wide libvirt event loop
// thread that this adapter starts once) and also re-reads the live XML, so a removal that completed
// while nobody listened is still seen. Guest PCI addresses come from the live XML: libvirt's view,
// where the bus is the PCI controller index.
#pragma once

#include "hyvd/core/ports.hpp"

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

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

    // "ua-" + qdev_id (libvirt only accepts user aliases with that prefix); kept as is when it has it.
    static std::string alias_for(const std::string& qdev_id);

private:
    using Connection = std::shared_ptr<_virConnect>;
    Result<Connection> connection();

    LibvirtHotplugOptions options_;
    std::mutex mutex_;
    Connection connection_;
};

// What the live domain XML says about one device with an alias.
struct LibvirtDeviceInfo {
    std::string alias;
    std::string mdev_uuid;    // hostdev type='mdev' only
    std::string pci_address;  // "0000:01:00.0", "" when libvirt has not assigned one
};

// Every <hostdev type='mdev'> in a domain XML.
Result<std::vector<LibvirtDeviceInfo>> mdev_hostdevs_in_domain_xml(const std::string& xml);
// Whether any device in a domain XML has <alias name='alias'/>.
Result<bool> domain_xml_has_alias(const std::string& xml, const std::string& alias);

}  // namespace hyv::adapters
