#include "hyvd/adapters/sysfs_mdev.hpp"

#include <hyv/unique_fd.hpp>
#include "hyv/error_codes.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace hyv::adapters {

namespace fs = std::filesystem;

namespace {

// The hyv_mdev class directory: every parent of ours appears here (docs/device.md).
constexpr const char* hyv_class_dir = "class/hyv";
constexpr const char* mdev_devices_dir = "bus/mdev/devices";
// The module's per-instance limits: quota/<resource>_max (docs/control-path.md, "Quotas").
constexpr const char* instance_quota_dir = "quota";
// Which host GIDs the instance may use: identity/netdev, identity/unisolated (docs/network.md).
constexpr const char* instance_identity_dir = "identity";

struct QuotaAttribute {
    const char* file;
    std::uint64_t Quota::*wide;
    std::uint32_t Quota::*narrow;
};

std::string errno_text(int error)
{
    return std::strerror(error);
}

// The canonical directory of a sysfs device, so that "/sys/class/hyv/rxe0" and the
// "/sys/devices/.../hyv/rxe0" an mdev's parent link resolves to compare equal.
fs::path canonical_or_self(const fs::path& path)
{
    std::error_code ec;
    auto resolved = fs::canonical(path, ec);
    return ec ? path : resolved;
}

}  // namespace

Result<void> write_sysfs_attribute(const fs::path& path, std::string_view text, int* error_number)
{
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) {
        const int open_errno = errno;
        if (error_number != nullptr) {
            *error_number = open_errno;
        }
        return make_error(errc::sysfs_open, fmt::format("cannot open {}: {}", path.string(), errno_text(open_errno)));
    }
    const ssize_t written = ::write(fd.get(), text.data(), text.size());
    if (written != static_cast<ssize_t>(text.size())) {
        const int write_errno = written < 0 ? errno : EIO;
        if (error_number != nullptr) {
            *error_number = write_errno;
        }
        return make_error(errc::sysfs_write,
                          fmt::format("writing \"{}\" to {} failed: {}", text, path.string(), errno_text(write_errno)));
    }
    return {};
}

Result<std::string> read_sysfs_attribute(const fs::path& path)
{
    std::ifstream in(path);
    if (!in) {
        return make_error(errc::sysfs_read, fmt::format("cannot read {}", path.string()));
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string text = buffer.str();
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
        text.pop_back();
    }
    return text;
}

SysfsMdev::SysfsMdev(fs::path sysfs_root) : root_(std::move(sysfs_root)) {}

fs::path SysfsMdev::device_path(const MdevUuid& uuid) const
{
    return root_ / mdev_devices_dir / uuid.to_string();
}

Result<void> SysfsMdev::create(const std::string& parent_path, const std::string& type, const MdevUuid& uuid)
{
    if (type.empty() || type.find('/') != std::string::npos || type == "." || type == "..") {
        return make_error(errc::mdev_type, fmt::format("mdev type \"{}\" is not a directory name under "
                                                       "mdev_supported_types; check the inventory",
                                                       type));
    }
    const fs::path type_dir = fs::path(parent_path) / "mdev_supported_types" / type;
    std::error_code ec;
    if (!fs::is_directory(type_dir, ec)) {
        return make_error(errc::mdev_parent_absent,
                          fmt::format("{} does not exist: the host device's hyv_mdev parent is gone; check "
                                      "`hyvctl devices` and that hyv_mdev.ko is loaded",
                                      type_dir.string()));
    }
    int error_number = 0;
    auto written = write_sysfs_attribute(type_dir / "create", uuid.to_string(), &error_number);
    if (!written) {
        if (error_number == EEXIST) {
            return make_error(errc::mdev_exists, fmt::format("mdev {} already exists", uuid.to_string()));
        }
        if (error_number == ENOSPC || error_number == EDQUOT) {
            return make_error(errc::mdev_no_capacity,
                              fmt::format("{} has no instances left ({}); detach a VM from this device or load "
                                          "hyv_mdev with a larger max_instances",
                                          parent_path, errno_text(error_number)));
        }
        return make_error(errc::mdev_create, fmt::format("creating mdev {} under {} failed: {}", uuid.to_string(),
                                                         type_dir.string(), written.error().message));
    }
    spdlog::debug("mdev {} created under {}", uuid.to_string(), type_dir.string());
    return {};
}

Result<void> SysfsMdev::set_quota(const MdevUuid& uuid, const Quota& quota)
{
    const fs::path attributes = device_path(uuid) / instance_quota_dir;
    static constexpr std::array<QuotaAttribute, 4> quota_attributes{{
        {"qps_max", nullptr, &Quota::max_qps},
        {"cqs_max", nullptr, &Quota::max_cqs},
        {"mrs_max", nullptr, &Quota::max_mrs},
        {"pinned_bytes_max", &Quota::max_pinned_bytes, nullptr},
    }};
    std::error_code ec;
    if (!fs::exists(device_path(uuid), ec)) {
        return make_error(errc::mdev_absent,
                          fmt::format("mdev {} does not exist; it was removed behind hyvd's back", uuid.to_string()));
    }
    if (!fs::exists(attributes / quota_attributes[0].file, ec)) {
        // The module generation that predates quota attributes cannot enforce them; say so
        // loudly rather than failing every attach.
        spdlog::warn("mdev {}: hyv_mdev offers no {} attributes; quota qps={} cqs={} mrs={} pinned={} NOT enforced",
                     uuid.to_string(), (attributes / "*_max").string(), quota.max_qps, quota.max_cqs, quota.max_mrs,
                     quota.max_pinned_bytes);
        return {};
    }
    for (const auto& attribute : quota_attributes) {
        const std::uint64_t value =
            attribute.wide != nullptr ? quota.*(attribute.wide) : static_cast<std::uint64_t>(quota.*(attribute.narrow));
        auto written = write_sysfs_attribute(attributes / attribute.file, std::to_string(value), nullptr);
        if (!written) {
            return make_error(errc::mdev_quota, fmt::format("mdev {}: {}", uuid.to_string(), written.error().message));
        }
    }
    return {};
}

Result<void> SysfsMdev::set_identity(const MdevUuid& uuid, const core::GidScope& scope)
{
    const fs::path attributes = device_path(uuid) / instance_identity_dir;
    std::error_code ec;
    if (!fs::exists(device_path(uuid), ec)) {
        return make_error(errc::mdev_absent,
                          fmt::format("mdev {} does not exist; it was removed behind hyvd's back", uuid.to_string()));
    }
    if (!fs::exists(attributes / "netdev", ec) || !fs::exists(attributes / "unisolated", ec)) {
        // Unlike quotas, no fallback: an instance of a module without identities sees every host GID,
        // which is exactly what an identity promises it will not.
        return make_error(errc::mdev_identity,
                          fmt::format("the loaded hyv_mdev has no {} attributes, so it cannot limit the guest to its "
                                      "network identity; load a hyv_mdev.ko that has them",
                                      attributes.string()));
    }
    // A fresh instance has netdev "" and unisolated 0 (it sees no GID): one write gives it its scope.
    const auto [file, value] = scope.unisolated ? std::pair<const char*, std::string>{"unisolated", "1"}
                                                : std::pair<const char*, std::string>{"netdev", scope.netdev};
    if (auto written = write_sysfs_attribute(attributes / file, value, nullptr); !written) {
        return make_error(errc::mdev_identity, fmt::format("mdev {}: {}", uuid.to_string(), written.error().message));
    }
    spdlog::debug("mdev {}: identity/{} = {}", uuid.to_string(), file, value);
    return {};
}

Result<void> SysfsMdev::remove(const MdevUuid& uuid)
{
    const fs::path device = device_path(uuid);
    std::error_code ec;
    if (!fs::exists(device, ec)) {
        return make_error(errc::mdev_absent, fmt::format("mdev {} does not exist", uuid.to_string()));
    }
    int error_number = 0;
    auto written = write_sysfs_attribute(device / "remove", "1", &error_number);
    if (!written) {
        if (error_number == EBUSY) {
            return make_error(errc::mdev_busy,
                              fmt::format("mdev {} is still open (a QEMU holds it); hot-remove it from "
                                          "the VM first",
                                          uuid.to_string()));
        }
        if (error_number == ENOENT || error_number == ENODEV) {
            return make_error(errc::mdev_absent, fmt::format("mdev {} vanished while being removed", uuid.to_string()));
        }
        return make_error(errc::mdev_remove,
                          fmt::format("removing mdev {} failed: {}", uuid.to_string(), written.error().message));
    }
    spdlog::debug("mdev {} removed", uuid.to_string());
    return {};
}

Result<bool> SysfsMdev::exists(const MdevUuid& uuid)
{
    std::error_code ec;
    const bool present = fs::exists(device_path(uuid), ec);
    if (ec) {
        return make_error(errc::sysfs_read,
                          fmt::format("cannot check {}: {}", device_path(uuid).string(), ec.message()));
    }
    return present;
}

Result<std::vector<core::MdevInstance>> SysfsMdev::list()
{
    try {
        return list_instances();
    } catch (const fs::filesystem_error& e) {
        // An instance removed while we iterate; the caller retries on its next pass.
        return make_error(errc::sysfs_read, fmt::format("listing mdevs: {}", e.what()));
    }
}

Result<std::vector<core::MdevInstance>> SysfsMdev::list_instances()
{
    std::vector<core::MdevInstance> instances;
    std::error_code ec;
    const fs::path devices_dir = root_ / mdev_devices_dir;
    const fs::path class_dir = root_ / hyv_class_dir;
    if (!fs::is_directory(devices_dir, ec) || !fs::is_directory(class_dir, ec)) {
        return instances;  // no mdev core or no hyv_mdev loaded: nothing of ours exists
    }
    // Our parents, by canonical path, and the path the inventory reports for each.
    std::vector<std::pair<fs::path, fs::path>> parents;
    for (const auto& entry : fs::directory_iterator(class_dir, ec)) {
        parents.emplace_back(canonical_or_self(entry.path()), entry.path());
    }
    for (const auto& entry : fs::directory_iterator(devices_dir, ec)) {
        auto uuid = MdevUuid::parse(entry.path().filename().string());
        if (!uuid) {
            continue;
        }
        // The mdev device lives under its parent: <parent>/<uuid>; its mdev_type link
        // points at <parent>/mdev_supported_types/<type>.
        const fs::path instance_dir = canonical_or_self(entry.path());
        const fs::path parent_dir = instance_dir.parent_path();
        auto ours = std::find_if(parents.begin(), parents.end(),
                                 [&](const auto& parent) { return parent.first == parent_dir; });
        if (ours == parents.end()) {
            continue;
        }
        std::string type;
        const fs::path type_link = canonical_or_self(entry.path() / "mdev_type");
        if (fs::is_directory(type_link, ec)) {
            type = type_link.filename().string();
        }
        instances.push_back(core::MdevInstance{*uuid, ours->second.string(), type});
    }
    if (ec) {
        return make_error(errc::sysfs_read, fmt::format("listing {}: {}", devices_dir.string(), ec.message()));
    }
    return instances;
}

}  // namespace hyv::adapters
