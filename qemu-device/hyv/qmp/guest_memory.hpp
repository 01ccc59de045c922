// Guest RAM layout of a running QEMU: which guest-physical ranges are RAM, which RAM block backs
// them, and where that block sits in QEMU's address space (for GPA -> HVA translation in the host module).
#pragma once

#include <hyv/qmp/client.hpp>
#include <hyv/result.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hyv::qmp {

// One row of HMP `info ramblock`.
struct RamBlock {
    std::string name;          // "pc.ram", "mem0", "0000:00:01.0:00.0/virtio-net-pci.rom"
    std::uint64_t page_size = 0;
    std::uint64_t offset = 0;  // in QEMU's ram_addr_t space, not guest-physical
    std::uint64_t used = 0;
    std::uint64_t total = 0;
};

// One rendered range of a flat view in HMP `info mtree -f`; `last` is inclusive, as QEMU prints it.
struct FlatRange {
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    int priority = 0;
    std::string kind;               // "ram", "rom", "i/o", "romd", "ramd" (plus ", nv" when non-volatile)
    std::string region;             // memory region name
    std::uint64_t region_offset = 0;  // the "@offset" part: where in the region the range starts

    std::uint64_t size() const { return last - first + 1; }
    bool is_ram() const;
};

struct FlatView {
    std::vector<std::string> address_spaces;  // "memory", "cpu-memory-0", "I/O", ...
    std::string root;                         // root memory region, "(none)" if unrendered
    std::vector<FlatRange> ranges;
};

struct GuestRamRange {
    std::uint64_t guest_physical = 0;
    std::uint64_t size = 0;
    std::string region;        // memory region name as in info mtree
    std::string ram_block;     // matching `info ramblock` name, "" if none matched
    std::uint64_t block_offset = 0;  // offset of guest_physical inside the region / RAM block
    std::optional<std::uint64_t> host_virtual;  // QEMU's address of guest_physical (gpa2hva)
};

Result<std::vector<RamBlock>> parse_info_ramblock(std::string_view text);
Result<std::vector<FlatView>> parse_info_mtree_flat(std::string_view text);
// The host virtual address from HMP `gpa2hva <gpa>` output; qmp-gpa-unmapped when nothing is mapped there.
Result<std::uint64_t> parse_gpa2hva(std::string_view text);

// RAM ranges of the system memory view (address space "memory") matched to RAM blocks.
Result<std::vector<GuestRamRange>> guest_ram_ranges(const std::vector<FlatView>& views,
                                                    const std::vector<RamBlock>& blocks);

// Asks QEMU (info mtree -f, info ramblock, gpa2hva per range) and returns the guest RAM map.
Result<std::vector<GuestRamRange>> discover_guest_ram(Client& client);

}  // namespace hyv::qmp
