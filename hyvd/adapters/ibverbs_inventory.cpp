#include "hyvd/adapters/ibverbs_inventory.hpp"

#include "hyvd/adapters/sysfs_mdev.hpp"
#include "hyv/error_codes.hpp"

#include <endian.h>
#include <infiniband/verbs.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace hyv::adapters {

namespace fs = std::filesystem;

namespace {

// The hyv_mdev module names its mdev type "<class>-vrdma" (docs/device.md); any single
// type is accepted so a renamed type does not silently hide every device.
constexpr std::string_view hyv_type_suffix = "-vrdma";
constexpr std::uint8_t first_port = 1;

struct DeviceListDeleter {
    void operator()(ibv_device** list) const { ibv_free_device_list(list); }
};
struct ContextDeleter {
    void operator()(ibv_context* context) const { ibv_close_device(context); }
};

std::string link_layer_name(std::uint8_t link_layer)
{
    switch (link_layer) {
    case IBV_LINK_LAYER_ETHERNET: return "Ethernet";
    case IBV_LINK_LAYER_INFINIBAND: return "InfiniBand";
    default: return "unknown";
    }
}

std::string mdev_type_of(const fs::path& parent)
{
    std::error_code ec;
    std::vector<std::string> types;
    for (const auto& entry : fs::directory_iterator(parent / "mdev_supported_types", ec)) {
        types.push_back(entry.path().filename().string());
    }
    for (const auto& type : types) {
        if (type.ends_with(hyv_type_suffix)) {
            return type;
        }
    }
    return types.size() == 1 ? types.front() : std::string{};
}

}  // namespace

std::optional<HyvParent> find_hyv_parent(const fs::path& sysfs_root, const Guid& guid)
{
    std::error_code ec;
    const fs::path class_dir = sysfs_root / "class" / "hyv";
    for (const auto& entry : fs::directory_iterator(class_dir, ec)) {
        auto text = read_sysfs_attribute(entry.path() / "node_guid");
        if (!text) {
            continue;  // a parent being torn down
        }
        auto parent_guid = Guid::parse(*text);
        if (!parent_guid || *parent_guid != guid) {
            continue;
        }
        return HyvParent{entry.path().string(), mdev_type_of(entry.path())};
    }
    return std::nullopt;
}

std::string rdma_driver_name(const fs::path& sysfs_root, const std::string& ibdev)
{
    const fs::path device_dir = sysfs_root / "class" / "infiniband" / ibdev;
    std::error_code ec;
    const fs::path driver = fs::read_symlink(device_dir / "device" / "driver", ec);
    if (!ec) {
        return driver.filename().string();
    }
    // Software RDMA devices have no bus device; rdma_rxe exports the netdev it runs on.
    if (fs::exists(device_dir / "parent", ec) && ibdev.starts_with("rxe")) {
        return "rdma_rxe";
    }
    return "unknown";
}

// The netdev of port 1: GID 0's (the port's own netdev, which RoCE always has), else the first entry
// of the RDMA device's bus device's net/ directory. Empty for InfiniBand.
std::string rdma_netdev(const fs::path& sysfs_root, const std::string& ibdev)
{
    const fs::path device_dir = sysfs_root / "class" / "infiniband" / ibdev;
    if (auto ndev = read_sysfs_attribute(device_dir / "ports" / "1" / "gid_attrs" / "ndevs" / "0");
        ndev && !ndev->empty()) {
        return *ndev;
    }
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(device_dir / "device" / "net", ec)) {
        return entry.path().filename().string();
    }
    return {};
}

IbverbsInventory::IbverbsInventory(fs::path sysfs_root) : root_(std::move(sysfs_root)) {}

Result<std::vector<core::HostDevice>> IbverbsInventory::scan()
{
    std::vector<core::HostDevice> devices;
    int count = 0;
    errno = 0;
    std::unique_ptr<ibv_device*, DeviceListDeleter> list(ibv_get_device_list(&count));
    if (!list) {
        const int list_errno = errno;
        if (list_errno == ENOSYS || list_errno == ENOENT || list_errno == 0) {
            spdlog::debug("inventory: no RDMA subsystem ({}); no devices", std::strerror(list_errno));
            return devices;
        }
        return make_error(errc::inventory, fmt::format("ibv_get_device_list failed: {}; is ib_uverbs loaded?",
                                                       std::strerror(list_errno)));
    }
    for (int index = 0; index < count; ++index) {
        ibv_device* device = list.get()[index];
        core::HostDevice host;
        host.ibdev = ibv_get_device_name(device);
        host.guid = Guid(be64toh(ibv_get_device_guid(device)));
        host.driver = rdma_driver_name(root_, host.ibdev);
        host.netdev = rdma_netdev(root_, host.ibdev);
        std::unique_ptr<ibv_context, ContextDeleter> context(ibv_open_device(device));
        if (context) {
            ibv_device_attr attributes{};
            if (ibv_query_device(context.get(), &attributes) == 0) {
                host.ports = attributes.phys_port_cnt;
                if (host.guid.is_zero()) {
                    host.guid = Guid(be64toh(attributes.node_guid));
                }
            }
            ibv_port_attr port{};
            if (host.ports >= first_port && ibv_query_port(context.get(), first_port, &port) == 0) {
                host.link_layer = link_layer_name(port.link_layer);
            }
        } else {
            spdlog::warn("inventory: cannot open {} ({}); ports and link layer unknown", host.ibdev,
                         std::strerror(errno));
        }
        if (host.guid.is_zero()) {
            spdlog::debug("inventory: {} has node GUID 0 (not configured); skipped", host.ibdev);
            continue;
        }
        if (auto parent = find_hyv_parent(root_, host.guid)) {
            host.mdev_parent = parent->path;
            host.mdev_type = parent->type;
        }
        spdlog::debug("inventory: {} guid {} driver {} ports {} link {} netdev {} parent {}", host.ibdev,
                      host.guid.to_string(), host.driver, host.ports, host.link_layer,
                      host.netdev.empty() ? "none" : host.netdev,
                      host.mdev_parent.empty() ? "none (hyv_mdev not loaded?)" : host.mdev_parent);
        devices.push_back(std::move(host));
    }
    return devices;
}

}  // namespace hyv::adapters
