// Link-time seam around hyvd's ports. The hyvd binary links port_hooks.cpp, which changes
// nothing. The crash-point build used by the crash tests (tests/support/hyvd_crash_hooks.cpp)
// links another definition that wraps the real adapters so the real daemon can be SIGKILLed at
// any chosen step of an operation.
#pragma once

#include "hyvd/core/service.hpp"

#include <memory>

namespace hyv::daemon {

class PortHooks {
public:
    virtual ~PortHooks() = default;
    // The API socket is listening: requests may arrive from now on.
    virtual void serving() {}
};

// May replace entries of `ports`; the returned object owns whatever it put there.
std::unique_ptr<PortHooks> install_port_hooks(core::Ports& ports);

}  // namespace hyv::daemon
