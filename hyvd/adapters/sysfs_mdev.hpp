// core::MdevControl over the kernel's mdev sysfs interface:
//   create: echo <uuid> > <parent>/mdev_supported_types/<type>/create
//   remove: echo 1 > <root>/bus/mdev/devices/<uuid>/remove
//   list:   <root>/bus/mdev/devices/<uuid> whose parent is a hyv_mdev parent (<root>/class/hyv/*)
//   quota:  <root>/bus/mdev/devices/<uuid>/quota/{qps,cqs,mrs,pinned_bytes}_max (when the module offers them)
//   identity: <root>/bus/mdev/devices/<uuid>/identity/{netdev,unisolated} (required)
// The sysfs root is a constructor argument so the path logic runs against a temp tree in unit
// tests; the real kernel interface is exercised in the VM tests.
#pragma once

#include "hyvd/core/ports.hpp"

#include <filesystem>
#include <string>

namespace hyv::adapters {

class SysfsMdev final : public core::MdevControl {
public:
    explicit SysfsMdev(std::filesystem::path sysfs_root = "/sys");

    // `parent_path` is the parent's sysfs directory (as Inventory reports it, e.g.
    // /sys/class/hyv/rxe0); `type` the directory name under mdev_supported_types.
    Result<void> create(const std::string& parent_path, const std::string& type, const MdevUuid& uuid) override;
    Result<void> set_quota(const MdevUuid& uuid, const Quota& quota) override;
    Result<void> set_identity(const MdevUuid& uuid, const core::GidScope& scope) override;
    Result<void> remove(const MdevUuid& uuid) override;
    Result<bool> exists(const MdevUuid& uuid) override;
    Result<std::vector<core::MdevInstance>> list() override;

    std::filesystem::path device_path(const MdevUuid& uuid) const;

private:
    Result<std::vector<core::MdevInstance>> list_instances();

    std::filesystem::path root_;
};

// Writes `text` to a sysfs attribute in one write(2), as the kernel expects; the error
// carries errno's text (sysfs store handlers report their reason only through errno).
Result<void> write_sysfs_attribute(const std::filesystem::path& path, std::string_view text, int* error_number);
// Reads an attribute and strips the trailing newline.
Result<std::string> read_sysfs_attribute(const std::filesystem::path& path);

}  // namespace hyv::adapters
