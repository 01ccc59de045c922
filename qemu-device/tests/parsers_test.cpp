// Parsers against output captured from Debian's QEMU 7.2 (see capture_fixtures.cpp).
#include <hyv/qmp/guest_memory.hpp>
#include <hyv/qmp/pci.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace hyv::qmp {
namespace {

std::string fixture(const std::string& name)
{
    std::ifstream in(std::string(HYV_QMP_FIXTURES) + "/" + name, std::ios::binary);
    EXPECT_TRUE(in) << "missing fixture " << name;
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kGiB = 1024 * kMiB;

TEST(InfoRamblock, ParsesEveryRowIncludingDeviceOwnedBlocks)
{
    auto blocks = parse_info_ramblock(fixture("q35_128m.info_ramblock.txt"));
    ASSERT_TRUE(blocks) << blocks.error().message;
    ASSERT_EQ(blocks->size(), 7u);
    EXPECT_EQ((*blocks)[0].name, "pc.ram");
    EXPECT_EQ((*blocks)[0].page_size, 4096u);
    EXPECT_EQ((*blocks)[0].offset, 0u);
    EXPECT_EQ((*blocks)[0].used, 128 * kMiB);
    EXPECT_EQ((*blocks)[0].total, 128 * kMiB);
    // Longer than the 24-column name field: the row is not aligned any more.
    EXPECT_EQ((*blocks)[3].name, "0000:00:01.0:00.0/virtio-net-pci.rom");
    EXPECT_EQ((*blocks)[3].offset, 0x8300000u);
    EXPECT_EQ((*blocks)[1].name, "/rom@etc/acpi/tables");
    EXPECT_EQ((*blocks)[1].used, 0x20000u);
    EXPECT_EQ((*blocks)[1].total, 0x200000u);
}

TEST(InfoRamblock, ParsesMemoryBackendOver4G)
{
    auto blocks = parse_info_ramblock(fixture("q35_4g_memfd.info_ramblock.txt"));
    ASSERT_TRUE(blocks) << blocks.error().message;
    ASSERT_FALSE(blocks->empty());
    EXPECT_EQ((*blocks)[0].name, "mem0");
    EXPECT_EQ((*blocks)[0].used, 4 * kGiB);
    EXPECT_EQ((*blocks)[2].name, "pc.bios");
    EXPECT_EQ((*blocks)[2].offset, 0x100000000u);
}

TEST(InfoRamblock, RejectsTextWithoutHeaderOrWithBrokenRows)
{
    EXPECT_FALSE(parse_info_ramblock(""));
    EXPECT_FALSE(parse_info_ramblock("unknown command: 'info ramblok'\r\n"));
    auto broken = parse_info_ramblock(
        "              Block Name    PSize              Offset               Used              Total\r\n"
        "                  pc.ram    4 KiB  0x0000000000000000 0xZZ 0x0000000008000000\r\n");
    ASSERT_FALSE(broken);
    EXPECT_EQ(broken.error().code, "qmp-parse");
}

TEST(InfoMtreeFlat, ParsesViewsAddressSpacesAndRanges)
{
    auto views = parse_info_mtree_flat(fixture("q35_128m.info_mtree_f.txt"));
    ASSERT_TRUE(views) << views.error().message;
    ASSERT_EQ(views->size(), 4u);
    const FlatView& system = (*views)[0];
    EXPECT_EQ(system.address_spaces, (std::vector<std::string>{"memory", "cpu-memory-0"}));
    EXPECT_EQ(system.root, "system");
    ASSERT_FALSE(system.ranges.empty());
    EXPECT_EQ(system.ranges[0].first, 0u);
    EXPECT_EQ(system.ranges[0].size(), 128 * kMiB);
    EXPECT_EQ(system.ranges[0].kind, "ram");
    EXPECT_TRUE(system.ranges[0].is_ram());
    EXPECT_EQ(system.ranges[0].region, "pc.ram");
    const FlatRange& bios = system.ranges.back();
    EXPECT_EQ(bios.region, "pc.bios");
    EXPECT_EQ(bios.kind, "rom");
    EXPECT_FALSE(bios.is_ram());
    EXPECT_EQ(bios.last, 0xffffffffu);
    const FlatRange& apic = system.ranges[system.ranges.size() - 2];
    EXPECT_EQ(apic.priority, 4096);
    EXPECT_EQ(apic.kind, "i/o");
    // The unrendered bus-master view has address spaces but no ranges.
    EXPECT_EQ((*views)[3].root, "(none)");
    EXPECT_TRUE((*views)[3].ranges.empty());
    EXPECT_GT((*views)[3].address_spaces.size(), 5u);
}

TEST(InfoMtreeFlat, ReadsAliasOffsets)
{
    auto views = parse_info_mtree_flat(fixture("q35_4g_memfd.info_mtree_f.txt"));
    ASSERT_TRUE(views) << views.error().message;
    auto ranges = guest_ram_ranges(*views, *parse_info_ramblock(fixture("q35_4g_memfd.info_ramblock.txt")));
    ASSERT_TRUE(ranges) << ranges.error().message;
    // Below 4 GiB the PCI hole splits RAM; what is above it continues the same block at 2 GiB.
    ASSERT_EQ(ranges->size(), 3u);
    EXPECT_EQ((*ranges)[0].guest_physical, 0u);
    EXPECT_EQ((*ranges)[0].size, 0xc0000u);
    EXPECT_EQ((*ranges)[1].guest_physical, 0x100000u);
    EXPECT_EQ((*ranges)[1].block_offset, 0x100000u);
    EXPECT_EQ((*ranges)[1].size, 2 * kGiB - 0x100000u);
    EXPECT_EQ((*ranges)[2].guest_physical, 4 * kGiB);
    EXPECT_EQ((*ranges)[2].block_offset, 2 * kGiB);
    EXPECT_EQ((*ranges)[2].size, 2 * kGiB);
    for (const auto& range : *ranges) {
        EXPECT_EQ(range.ram_block, "mem0");
        EXPECT_EQ(range.region, "mem0");
        EXPECT_FALSE(range.host_virtual.has_value());
    }
}

TEST(InfoMtreeFlat, RejectsUnknownLines)
{
    EXPECT_FALSE(parse_info_mtree_flat(""));
    auto garbage = parse_info_mtree_flat("FlatView #0\r\n AS \"memory\", root: system\r\n  what is this\r\n");
    ASSERT_FALSE(garbage);
    EXPECT_EQ(garbage.error().code, "qmp-parse");
}

TEST(GuestRamRanges, MatchesDeviceOwnedBlocksBySuffix)
{
    FlatView view{{"memory"}, "system", {{0x1000, 0x1fff, 0, "ram", "virtio-net-pci.rom", 0}}};
    std::vector<RamBlock> blocks{{"0000:00:01.0:00.0/virtio-net-pci.rom", 4096, 0, 0x1000, 0x1000}};
    auto ranges = guest_ram_ranges({view}, blocks);
    ASSERT_TRUE(ranges);
    ASSERT_EQ(ranges->size(), 1u);
    EXPECT_EQ((*ranges)[0].ram_block, "0000:00:01.0:00.0/virtio-net-pci.rom");
    EXPECT_FALSE(guest_ram_ranges({FlatView{{"I/O"}, "io", {}}}, blocks));
}

TEST(Gpa2hva, ParsesMappedAndUnmappedAnswers)
{
    auto mapped = parse_gpa2hva(fixture("q35_128m.gpa2hva_mapped.txt"));
    ASSERT_TRUE(mapped) << mapped.error().message;
    EXPECT_NE(*mapped, 0u);
    EXPECT_EQ(*mapped % 4096, 0u);
    auto unmapped = parse_gpa2hva(fixture("q35_128m.gpa2hva_unmapped.txt"));
    ASSERT_FALSE(unmapped);
    EXPECT_EQ(unmapped.error().code, "qmp-gpa-unmapped");
    EXPECT_FALSE(parse_gpa2hva("invalid char 'z' in expression\r\n"));
}

TEST(QueryPci, FindsDevicesBelowRootPorts)
{
    const Json pci = Json::parse(fixture("q35_128m.query_pci.json"));
    auto net = find_pci_address(pci, "net0");
    ASSERT_TRUE(net.has_value());
    EXPECT_EQ(net->to_string(), "0000:01:00.0");
    auto test_device = find_pci_address(pci, "test0");
    ASSERT_TRUE(test_device.has_value());
    EXPECT_EQ(*test_device, (PciAddress{0, 3, 0, 0}));
    auto port = find_pci_address(pci, "hp1");
    ASSERT_TRUE(port.has_value());
    EXPECT_EQ(port->to_string(), "0000:00:02.0");
    EXPECT_FALSE(find_pci_address(pci, "nope").has_value());
    EXPECT_FALSE(find_pci_address(pci, "").has_value());  // anonymous functions have qdev_id ""
    EXPECT_EQ(devices_below_bridge(pci, "hp0"), std::vector<std::string>{"net0"});
    EXPECT_TRUE(devices_below_bridge(pci, "hp1").empty());
}

TEST(DeviceAdd, BuildsVfioPciArgumentsForAnMdev)
{
    const std::string uuid = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001";
    auto arguments = build_vfio_mdev_device_add(uuid, qdev_id_for_mdev(uuid), "hp1");
    ASSERT_TRUE(arguments) << arguments.error().message;
    EXPECT_EQ(*arguments, (Json{{"driver", "vfio-pci"},
                                {"sysfsdev", "/sys/bus/mdev/devices/" + uuid},
                                {"id", "hyv-" + uuid},
                                {"bus", "hp1"}}));
    auto bad = build_vfio_mdev_device_add("../../etc/passwd", "x", "hp1");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, "invalid-mdev-uuid");
    EXPECT_FALSE(build_vfio_mdev_device_add(uuid, "", "hp1"));
    EXPECT_FALSE(is_valid_uuid("83b8f4f2-509f-382f-3c1e-e6bfe0fa100"));
    EXPECT_FALSE(is_valid_uuid("83b8f4f2x509f-382f-3c1e-e6bfe0fa1001"));
    EXPECT_TRUE(is_valid_uuid("83B8F4F2-509F-382F-3C1E-E6BFE0FA1001"));
}

}  // namespace
}  // namespace hyv::qmp
