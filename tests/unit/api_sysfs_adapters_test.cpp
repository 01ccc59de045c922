// Path logic of the sysfs adapters (SysfsMdev, the hyv parent lookup of IbverbsInventory)
// against a temp tree shaped like the kernel's. The real kernel interface is exercised by
// the VM tests; here "create" and "remove" are plain files whose contents we check.
#include "hyvd/adapters/ibverbs_inventory.hpp"
#include "hyvd/adapters/sysfs_mdev.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace hyv::adapters {
namespace {

namespace fs = std::filesystem;

constexpr const char* guid_text = "0002:c903:00a1:b2c3";
constexpr const char* mdev_text = "3b5f1f6e-8f39-4a53-9c1e-2b7d0c4a9e10";
constexpr const char* type_name = "hyv-vrdma";

std::string slurp(const fs::path& path)
{
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& path, const std::string& text)
{
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
}

class FakeSysfs : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string pattern = (fs::temp_directory_path() / "hyv-sysfs-test.XXXXXX").string();
        root_ = ::mkdtemp(pattern.data());
        // /sys/devices/virtual/infiniband/rxe0/hyv/rxe0 is the parent, /sys/class/hyv/rxe0 links to it.
        parent_real_ = root_ / "devices/virtual/infiniband/rxe0/hyv/rxe0";
        write_file(parent_real_ / "node_guid", std::string(guid_text) + "\n");
        write_file(parent_real_ / "mdev_supported_types" / type_name / "create", "");
        fs::create_directories(root_ / "class/hyv");
        fs::create_directory_symlink(parent_real_, root_ / "class/hyv/rxe0");
        fs::create_directories(root_ / "bus/mdev/devices");
    }
    void TearDown() override { fs::remove_all(root_); }

    // What the kernel does on create: <parent>/<uuid> plus the bus link to it.
    void make_instance(const fs::path& parent, const std::string& uuid, const std::string& type)
    {
        const fs::path instance = parent / uuid;
        write_file(instance / "remove", "");
        fs::create_directory_symlink(parent / "mdev_supported_types" / type, instance / "mdev_type");
        fs::create_directory_symlink(instance, root_ / "bus/mdev/devices" / uuid);
    }

    MdevUuid uuid() const { return MdevUuid::parse(mdev_text).value(); }

    fs::path root_;
    fs::path parent_real_;
};

TEST_F(FakeSysfs, CreateWritesTheUuidIntoTheTypesCreateFile)
{
    SysfsMdev mdev(root_);
    auto created = mdev.create((root_ / "class/hyv/rxe0").string(), type_name, uuid());
    ASSERT_TRUE(created.ok()) << created.error().message;
    EXPECT_EQ(slurp(parent_real_ / "mdev_supported_types" / type_name / "create"), mdev_text);
}

TEST_F(FakeSysfs, CreateNamesAMissingParentOrType)
{
    SysfsMdev mdev(root_);
    auto no_parent = mdev.create((root_ / "class/hyv/mlx5_0").string(), type_name, uuid());
    ASSERT_FALSE(no_parent.ok());
    EXPECT_EQ(no_parent.error().code, "mdev-parent-absent");
    auto bad_type = mdev.create((root_ / "class/hyv/rxe0").string(), "../../etc", uuid());
    ASSERT_FALSE(bad_type.ok());
    EXPECT_EQ(bad_type.error().code, "mdev-type");
}

TEST_F(FakeSysfs, ExistsListAndRemoveFollowTheBusLinks)
{
    SysfsMdev mdev(root_);
    auto before = mdev.exists(uuid());
    ASSERT_TRUE(before.ok());
    EXPECT_FALSE(*before);
    make_instance(parent_real_, mdev_text, type_name);
    EXPECT_TRUE(*mdev.exists(uuid()));

    auto listed = mdev.list();
    ASSERT_TRUE(listed.ok()) << listed.error().message;
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ((*listed)[0].uuid, uuid());
    EXPECT_EQ((*listed)[0].parent_path, (root_ / "class/hyv/rxe0").string());
    EXPECT_EQ((*listed)[0].type, type_name);

    auto removed = mdev.remove(uuid());
    ASSERT_TRUE(removed.ok()) << removed.error().message;
    EXPECT_EQ(slurp(parent_real_ / mdev_text / "remove"), "1");
}

TEST_F(FakeSysfs, ListIgnoresOtherVendorsMdevsAndJunk)
{
    const fs::path other_parent = root_ / "devices/virtual/mtty/mtty";
    write_file(other_parent / "mdev_supported_types/mtty-1/create", "");
    make_instance(other_parent, "11111111-2222-4333-8444-555555555555", "mtty-1");
    fs::create_directories(root_ / "bus/mdev/devices/not-a-uuid");
    SysfsMdev mdev(root_);
    auto listed = mdev.list();
    ASSERT_TRUE(listed.ok());
    EXPECT_TRUE(listed->empty());
}

TEST_F(FakeSysfs, ListIsEmptyWithoutTheModule)
{
    fs::remove_all(root_ / "class/hyv");
    SysfsMdev mdev(root_);
    auto listed = mdev.list();
    ASSERT_TRUE(listed.ok());
    EXPECT_TRUE(listed->empty());
}

TEST_F(FakeSysfs, RemoveOfAnAbsentMdevIsMdevAbsent)
{
    SysfsMdev mdev(root_);
    auto removed = mdev.remove(uuid());
    ASSERT_FALSE(removed.ok());
    EXPECT_EQ(removed.error().code, "mdev-absent");
}

TEST_F(FakeSysfs, QuotaIsWrittenWhenTheModuleOffersAttributes)
{
    make_instance(parent_real_, mdev_text, type_name);
    SysfsMdev mdev(root_);
    const Quota quota{.max_qps = 8, .max_cqs = 16, .max_mrs = 32, .max_pinned_bytes = 1ull << 30};
    // Without quota attributes (this module generation) it is accepted, with a warning.
    ASSERT_TRUE(mdev.set_quota(uuid(), quota).ok());
    const fs::path attributes = parent_real_ / mdev_text / "quota";
    for (const char* file : {"qps_max", "cqs_max", "mrs_max", "pinned_bytes_max"}) {
        write_file(attributes / file, "");
    }
    ASSERT_TRUE(mdev.set_quota(uuid(), quota).ok());
    EXPECT_EQ(slurp(attributes / "qps_max"), "8");
    EXPECT_EQ(slurp(attributes / "cqs_max"), "16");
    EXPECT_EQ(slurp(attributes / "mrs_max"), "32");
    EXPECT_EQ(slurp(attributes / "pinned_bytes_max"), "1073741824");
}

TEST_F(FakeSysfs, QuotaOnAnAbsentMdevFails)
{
    SysfsMdev mdev(root_);
    auto set = mdev.set_quota(uuid(), Quota{});
    ASSERT_FALSE(set.ok());
    EXPECT_EQ(set.error().code, "mdev-absent");
}

TEST_F(FakeSysfs, FindsTheHyvParentByGuidInAnySpelling)
{
    auto parent = find_hyv_parent(root_, Guid::parse("0x0002C90300A1B2C3").value());
    ASSERT_TRUE(parent.has_value());
    EXPECT_EQ(parent->path, (root_ / "class/hyv/rxe0").string());
    EXPECT_EQ(parent->type, type_name);
    EXPECT_FALSE(find_hyv_parent(root_, Guid::parse("0002:c903:00a1:b2c4").value()).has_value());
    EXPECT_FALSE(find_hyv_parent(root_ / "nowhere", Guid::parse(guid_text).value()).has_value());
}

TEST_F(FakeSysfs, DriverNameComesFromTheBusDeviceOrTheSoftwareDevice)
{
    const fs::path mlx = root_ / "class/infiniband/mlx5_0";
    fs::create_directories(root_ / "bus/pci/drivers/mlx5_core");
    fs::create_directories(mlx / "device");
    fs::create_directory_symlink(root_ / "bus/pci/drivers/mlx5_core", mlx / "device/driver");
    EXPECT_EQ(rdma_driver_name(root_, "mlx5_0"), "mlx5_core");
    write_file(root_ / "class/infiniband/rxe0/parent", "eth0\n");
    EXPECT_EQ(rdma_driver_name(root_, "rxe0"), "rdma_rxe");
    EXPECT_EQ(rdma_driver_name(root_, "mystery0"), "unknown");
}

TEST(IbverbsInventory, ScanWithoutRdmaDevicesIsEmptyNotAnError)
{
    // The build machine has no RDMA devices; the VM tests cover rxe.
    IbverbsInventory inventory;
    auto devices = inventory.scan();
    ASSERT_TRUE(devices.ok()) << devices.error().message;
    for (const auto& device : *devices) {
        EXPECT_FALSE(device.guid.is_zero());
    }
}

}  // namespace
}  // namespace hyv::adapters
