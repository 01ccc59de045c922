// core::Inventory from libibverbs (device list, node GUID, ports, link layer) plus sysfs
// (the kernel driver behind each device and the hyv_mdev parent serving its GUID).
#pragma once

#include "hyvd/core/ports.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace hyv::adapters {

// The hyv_mdev parent of one host device: /sys/class/hyv/<ibdev> and its mdev type.
struct HyvParent {
    std::string path;  // as found under <root>/class/hyv, e.g. /sys/class/hyv/rxe0
    std::string type;  // directory under mdev_supported_types, e.g. "hyv-vrdma"
};

// Looks through <sysfs_root>/class/hyv/*/node_guid for `guid`. Pure sysfs path logic,
// unit-tested against a temp tree.
std::optional<HyvParent> find_hyv_parent(const std::filesystem::path& sysfs_root, const Guid& guid);

// The kernel module driving an RDMA device: the driver of its parent bus device when it has
// one (mlx5_core, ...), else inferred for software devices (rxe has a "parent" netdev attribute).
std::string rdma_driver_name(const std::filesystem::path& sysfs_root, const std::string& ibdev);

class IbverbsInventory final : public core::Inventory {
public:
    explicit IbverbsInventory(std::filesystem::path sysfs_root = "/sys");

    Result<std::vector<core::HostDevice>> scan() override;

private:
    std::filesystem::path root_;
};

}  // namespace hyv::adapters
