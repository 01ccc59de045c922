// core::NetIdentity over rtnetlink (libnl-route-3): the host link of a guest's network identity
// is a macvlan (mode bridge) or a VLAN device on the RDMA device's netdev, with the identity's MAC
// and addresses, up; the kernel's RDMA core then adds RoCE GIDs for it (docs/network.md). The real
// kernel interface is exercised in the test host VM (tests/integration/daemon_hostvm.sh): the build
// machine's kernel has no macvlan.
#pragma once

#include "hyvd/core/ports.hpp"

#include <string>
#include <vector>

namespace hyv::adapters {

class NetlinkIdentity final : public core::NetIdentity {
public:
    // Only links whose name starts with `prefix` are listed by list_own().
    explicit NetlinkIdentity(std::string prefix = "hyv") : prefix_(std::move(prefix)) {}

    Result<void> create(const core::IdentityLink& link) override;
    Result<void> remove(const std::string& name) override;
    Result<bool> exists(const std::string& name) override;
    Result<std::vector<std::string>> list_own() override;

private:
    std::string prefix_;
};

}  // namespace hyv::adapters
