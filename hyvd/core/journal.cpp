#include "hyvd/core/journal.hpp"

#include "hyvd/core/state_machine.hpp"
#include "hyv/error_codes.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <random>

namespace hyv::core {

std::string new_op_id()
{
    static constexpr char hex[] = "0123456789abcdef";
    std::random_device entropy;
    const std::uint64_t bits = (std::uint64_t{entropy()} << 32) | entropy();
    std::string id = "op-";
    for (int shift = 60; shift >= 0; shift -= 4) {
        id.push_back(hex[(bits >> shift) & 0xf]);
    }
    return id;
}

TimeMs SystemClock::now()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

Result<void> Journal::note(std::string_view kind, const std::string& message, const std::string& vm,
                           const std::string& guid, const std::string& mdev)
{
    Event event{0, now(), op_id_, vm, guid, mdev, std::string(kind), message};
    auto id = store_.append_event(event);
    if (!id) {
        return id.error();
    }
    spdlog::debug("[{}] {} vm={} guid={} mdev={}: {}", op_id_, kind, vm, guid, mdev, message);
    return {};
}

Result<void> Journal::note(const Assignment& a, std::string_view kind, const std::string& message)
{
    return note(kind, message, a.vm.str(), a.guid.to_string(), a.mdev.to_string());
}

Result<void> Journal::insert(Assignment& a, std::string_view kind, const std::string& message,
                             const std::string& link_parent)
{
    Assignment row = a;
    row.op_id = op_id_;
    row.created_at = row.updated_at = now();
    auto written = store_.transaction([&]() -> Result<void> {
        if (auto r = store_.insert_assignment(row); !r) {
            return r;
        }
        // The UUID is hyvd's from here on, before any mdev of it exists (schema 3, hyvd_mdevs).
        if (auto r = store_.own_mdev(row.mdev, row.guid, row.created_at, op_id_); !r) {
            return r;
        }
        // Likewise its identity link (schema 4, hyvd_links), before the link exists.
        if (!row.link.empty()) {
            if (auto r = store_.own_link(row.link, link_parent, row.mdev, row.created_at, op_id_); !r) {
                return r;
            }
        }
        return note(row, kind, message);
    });
    if (!written) {
        return written;
    }
    a = std::move(row);
    return {};
}

Result<void> Journal::transition(Assignment& a, AssignmentState to, std::string_view kind, const std::string& message,
                                 const std::function<void(Assignment&)>& edit)
{
    if (auto allowed = check_transition(a.state, to); !allowed) {
        spdlog::error("[{}] vm={} guid={}: {}", op_id_, a.vm.str(), a.guid.to_string(), allowed.error().message);
        return allowed;
    }
    Assignment row = a;
    row.state = to;
    row.op_id = op_id_;
    row.updated_at = now();
    row.last_error.clear();
    if (edit) {
        edit(row);
    }
    const std::string change = std::string(to_string(a.state)) + " -> " + std::string(to_string(to)) + ": " + message;
    auto written = store_.transaction([&]() -> Result<void> {
        if (to == AssignmentState::removed) {
            // Deleting under the same compare-and-set guard as an update: the row must still be in a.state.
            auto current = store_.assignment(a.vm, a.guid);
            if (!current) {
                return current.error();
            }
            if (!*current || (*current)->state != a.state) {
                return make_error(errc::state_conflict, "assignment changed under operation " + op_id_);
            }
            if (auto r = store_.delete_assignment(a.vm, a.guid); !r) {
                return r;
            }
        } else if (auto r = store_.update_assignment(row, a.state); !r) {
            return r;
        }
        return note(row, kind, change);
    });
    if (!written) {
        return written;
    }
    a = std::move(row);
    return {};
}

}  // namespace hyv::core
