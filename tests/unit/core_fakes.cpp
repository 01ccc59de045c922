#include "core_fakes.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace hyv::test {
namespace {

std::string read_all(const fs::path& path)
{
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

void write_all(const fs::path& path, const std::string& text)
{
    fs::create_directories(path.parent_path());
    // Write-then-rename, like sysfs attribute writes are atomic for the reader.
    const fs::path partial = path.string() + ".partial";
    {
        std::ofstream out(partial, std::ios::trunc);
        out << text;
    }
    fs::rename(partial, path);
}

}  // namespace

FakeMdevControl::FakeMdevControl(fs::path root, CrashPlan& crash) : root_(std::move(root)), crash_(crash)
{
    fs::create_directories(root_ / "mdevs");
}

Result<void> FakeMdevControl::create(const std::string& parent_path, const std::string& type, const MdevUuid& uuid)
{
    crash_.step();
    if (fail_create || (!gone_parent.empty() && parent_path == gone_parent)) {
        return make_error("mdev-create", "injected failure");
    }
    const fs::path file = root_ / "mdevs" / uuid.to_string();
    if (fs::exists(file)) {
        return make_error("mdev-exists", "mdev " + uuid.to_string() + " exists");
    }
    write_all(file, parent_path + " " + type);
    crash_.step();
    return {};
}

Result<void> FakeMdevControl::set_quota(const MdevUuid& uuid, const Quota& quota)
{
    crash_.step();
    if (!fs::exists(root_ / "mdevs" / uuid.to_string())) {
        return make_error("mdev-absent", "no mdev " + uuid.to_string());
    }
    write_all(root_ / "quota" / uuid.to_string(), std::to_string(quota.max_qps) + " " + std::to_string(quota.max_cqs) +
                                                      " " + std::to_string(quota.max_mrs) + " " +
                                                      std::to_string(quota.max_pinned_bytes));
    crash_.step();
    return {};
}

Result<void> FakeMdevControl::set_identity(const MdevUuid& uuid, const core::GidScope& scope)
{
    crash_.step();
    if (fail_identity) {
        return make_error("mdev-identity", "injected failure: no identity attributes");
    }
    if (!fs::exists(root_ / "mdevs" / uuid.to_string())) {
        return make_error("mdev-absent", "no mdev " + uuid.to_string());
    }
    write_all(root_ / "identity" / uuid.to_string(), scope.unisolated ? "unisolated" : "netdev " + scope.netdev);
    crash_.step();
    return {};
}

std::string FakeMdevControl::identity_of(const MdevUuid& uuid) const
{
    return read_all(root_ / "identity" / uuid.to_string());
}

Result<void> FakeMdevControl::remove(const MdevUuid& uuid)
{
    crash_.step();
    if (fail_remove) {
        return make_error("mdev-remove", "injected failure");
    }
    const fs::path file = root_ / "mdevs" / uuid.to_string();
    if (!fs::exists(file)) {
        return make_error("mdev-absent", "no mdev " + uuid.to_string());
    }
    // The fake hypervisor lives under the same root: a VM holding this mdev makes removal a bug.
    if (fs::exists(root_ / "vms")) {
        for (const auto& vm : fs::directory_iterator(root_ / "vms")) {
            if (!fs::exists(vm.path() / "devices")) {
                continue;
            }
            for (const auto& device : fs::directory_iterator(vm.path() / "devices")) {
                if (read_all(device.path()).starts_with(uuid.to_string())) {
                    std::ofstream(root_ / "violations", std::ios::app)
                        << "removed mdev " << uuid.to_string() << " held by " << vm.path().filename().string() << "\n";
                    return make_error("mdev-busy", "mdev " + uuid.to_string() + " is held by a VM");
                }
            }
        }
    }
    fs::remove(file);
    fs::remove(root_ / "quota" / uuid.to_string());
    fs::remove(root_ / "identity" / uuid.to_string());
    crash_.step();
    return {};
}

Result<bool> FakeMdevControl::exists(const MdevUuid& uuid)
{
    return fs::exists(root_ / "mdevs" / uuid.to_string());
}

Result<std::vector<core::MdevInstance>> FakeMdevControl::list()
{
    std::vector<core::MdevInstance> out;
    for (const auto& entry : fs::directory_iterator(root_ / "mdevs")) {
        auto uuid = MdevUuid::parse(entry.path().filename().string());
        if (!uuid) {
            continue;  // a ".partial" left by a crash mid-write
        }
        std::istringstream fields(read_all(entry.path()));
        core::MdevInstance instance{*uuid, {}, {}};
        fields >> instance.parent_path >> instance.type;
        out.push_back(instance);
    }
    return out;
}

std::vector<std::string> FakeMdevControl::violations() const
{
    std::vector<std::string> lines;
    std::istringstream in(read_all(root_ / "violations"));
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

FakeNetIdentity::FakeNetIdentity(fs::path root, CrashPlan& crash) : root_(std::move(root)), crash_(crash)
{
    fs::create_directories(root_ / "links");
}

Result<void> FakeNetIdentity::create(const core::IdentityLink& link)
{
    crash_.step();
    ++create_calls;
    if (fail_create) {
        return make_error("netlink", "injected failure");
    }
    if (fs::exists(root_ / "links" / link.name)) {
        return make_error("link-exists", "a link named " + link.name + " exists already");
    }
    std::string addresses;
    for (const auto& address : link.addresses) {
        addresses += (addresses.empty() ? "" : ",") + address.to_string();
    }
    write_all(root_ / "links" / link.name, link.parent + " " + (link.mac ? link.mac->to_string() : "-") + " " +
                                               (link.vlan ? link.vlan->to_string() : "-") + " " + addresses);
    crash_.step();
    return {};
}

Result<void> FakeNetIdentity::remove(const std::string& name)
{
    crash_.step();
    if (!fs::exists(root_ / "links" / name)) {
        return make_error("link-absent", "link " + name + " does not exist");
    }
    if (fs::exists(root_ / "identity")) {
        for (const auto& entry : fs::directory_iterator(root_ / "identity")) {
            if (read_all(entry.path()) == "netdev " + name && fs::exists(root_ / "mdevs" / entry.path().filename())) {
                std::ofstream(root_ / "violations", std::ios::app)
                    << "removed link " << name << " while mdev " << entry.path().filename().string() << " uses it\n";
            }
        }
    }
    fs::remove(root_ / "links" / name);
    crash_.step();
    return {};
}

Result<bool> FakeNetIdentity::exists(const std::string& name)
{
    return fs::exists(root_ / "links" / name);
}

Result<std::vector<std::string>> FakeNetIdentity::list_own()
{
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(root_ / "links")) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with("hyv") && entry.path().extension() != ".partial") {
            out.push_back(name);
        }
    }
    return out;
}

std::string FakeNetIdentity::describe(const std::string& name) const
{
    return fs::exists(root_ / "links" / name) ? read_all(root_ / "links" / name) : std::string();
}

void FakeNetIdentity::add_foreign(const std::string& name)
{
    write_all(root_ / "links" / name, "eth0 - - 192.0.2.1/24");
}

FakeHypervisor::FakeHypervisor(fs::path root, CrashPlan& crash) : root_(root), mdev_root_(root / "mdevs"), crash_(crash)
{
    fs::create_directories(root_ / "vms");
}

void FakeHypervisor::set_running(const std::string& vm, bool running)
{
    fs::create_directories(vm_dir(vm) / "devices");
    if (running) {
        write_all(vm_dir(vm) / "running", "1");
    } else {
        fs::remove(vm_dir(vm) / "running");
        fs::remove_all(vm_dir(vm) / "devices");  // a stopped QEMU holds nothing
    }
}

void FakeHypervisor::set_guest_refuses_unplug(const std::string& vm, bool refuses)
{
    if (refuses) {
        write_all(vm_dir(vm) / "refuses-unplug", "1");
    } else {
        fs::remove(vm_dir(vm) / "refuses-unplug");
    }
}

Result<bool> FakeHypervisor::is_running(const core::VmRecord& vm)
{
    return fs::exists(vm_dir(vm.name.str()) / "running");
}

Result<std::string> FakeHypervisor::hot_add(const core::VmRecord& vm, const MdevUuid& mdev, const std::string& qdev_id)
{
    crash_.step();
    ++hot_add_calls;
    if (fail_hot_add) {
        return make_error("qmp-error", "injected device_add failure");
    }
    if (!fs::exists(vm_dir(vm.name.str()) / "running")) {
        return make_error("vm-not-running", "VM is not running");
    }
    if (!fs::exists(mdev_root_ / mdev.to_string())) {
        return make_error("qmp-error", "vfio: no such mdev " + mdev.to_string());
    }
    const fs::path devices = vm_dir(vm.name.str()) / "devices";
    fs::create_directories(devices);
    if (fs::exists(devices / qdev_id)) {
        return make_error("qmp-error", "Duplicate device ID '" + qdev_id + "'");
    }
    int slot = 1;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(devices)) {
        ++slot;
    }
    const std::string address = "0000:0" + std::to_string(slot) + ":00.0";
    write_all(devices / qdev_id, mdev.to_string() + " " + address);
    crash_.step();
    return address;
}

Result<void> FakeHypervisor::hot_remove(const core::VmRecord& vm, const std::string& qdev_id,
                                        std::chrono::milliseconds timeout)
{
    crash_.step();
    const fs::path device = vm_dir(vm.name.str()) / "devices" / qdev_id;
    if (!fs::exists(device)) {
        return make_error("qmp-error", "Device '" + qdev_id + "' not found");
    }
    if (fs::exists(vm_dir(vm.name.str()) / "refuses-unplug")) {
        return make_error("hot-remove-timeout", "no DEVICE_DELETED within " + std::to_string(timeout.count()) + " ms");
    }
    fs::remove(device);
    crash_.step();
    return {};
}

Result<std::vector<core::PresentDevice>> FakeHypervisor::list_hyv_devices(const core::VmRecord& vm)
{
    std::vector<core::PresentDevice> out;
    const fs::path devices = vm_dir(vm.name.str()) / "devices";
    if (!fs::exists(devices)) {
        return out;
    }
    for (const auto& entry : fs::directory_iterator(devices)) {
        if (entry.path().extension() == ".partial") {
            continue;
        }
        std::istringstream fields(read_all(entry.path()));
        std::string uuid;
        core::PresentDevice present;
        fields >> uuid >> present.guest_pci_address;
        present.qdev_id = entry.path().filename().string();
        present.mdev = MdevUuid::parse(uuid).value();
        out.push_back(present);
    }
    return out;
}

TempDir::TempDir()
{
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/hyv-test-XXXXXX";
    if (!mkdtemp(pattern.data())) {
        std::abort();
    }
    path_ = pattern;
}

TempDir::~TempDir()
{
    std::error_code ignored;
    fs::remove_all(path_, ignored);
}

}  // namespace hyv::test
