// Sample rows for store and service tests.
#pragma once

#include "hyvd/core/ports.hpp"

namespace hyv::test {

inline core::HostDevice sample_device(std::uint64_t guid = 0x0002c90300a1b2c3ull, const std::string& ibdev = "rxe0")
{
    core::HostDevice d;
    d.guid = Guid(guid);
    d.ibdev = ibdev;
    d.driver = "rdma_rxe";
    d.ports = 1;
    d.link_layer = "Ethernet";
    d.mdev_parent = "/sys/devices/virtual/hyv/" + ibdev;
    d.mdev_type = "hyv_mdev-virtio-hyv";
    d.netdev = "eth-" + ibdev;
    return d;
}

inline core::VmRecord sample_vm(const std::string& name = "vm1")
{
    core::VmRecord vm;
    vm.name = VmId::parse(name).value();
    vm.kind = VmKind::qemu;
    vm.qmp_socket = "/run/hyv/" + name + ".qmp";
    vm.created_at = 1000;
    return vm;
}

inline core::Assignment sample_assignment(const core::VmRecord& vm, const core::HostDevice& device)
{
    core::Assignment a;
    a.vm = vm.name;
    a.guid = device.guid;
    a.mdev = MdevUuid::generate();
    a.qdev_id = "hyv-" + a.mdev.to_string();
    a.state = AssignmentState::attaching_intent;
    a.quota = Quota{16, 16, 64, 1 << 20};
    a.identity.unisolated = true;
    a.created_at = a.updated_at = 2000;
    a.op_id = "op-test";
    return a;
}

}  // namespace hyv::test
