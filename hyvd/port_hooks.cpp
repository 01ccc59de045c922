#include "hyvd/port_hooks.hpp"

namespace hyv::daemon {

std::unique_ptr<PortHooks> install_port_hooks(core::Ports& /*ports*/)
{
    return std::make_unique<PortHooks>();
}

}  // namespace hyv::daemon
