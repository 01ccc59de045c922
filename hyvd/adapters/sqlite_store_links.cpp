// SqliteStore, schema 4: the addresses of network identities (assignment_addresses) and table
// hyvd_links, the host links hyvd made for them.
#include "hyvd/adapters/sqlite_store.hpp"

#include "hyvd/adapters/sqlite_store_db.hpp"
#include "hyv/error_codes.hpp"

#include <sqlite3.h>

#include <algorithm>

namespace hyv::adapters {

bool read_assignment_identity(const SqliteStatement& s, core::Assignment& a)
{
    a.identity.unisolated = s.integer(15) != 0;
    if (const std::string mac = s.text(16); !mac.empty()) {
        auto parsed = MacAddress::parse(mac);
        if (!parsed) {
            return false;
        }
        a.identity.mac = *parsed;
    }
    if (const std::int64_t vlan = s.integer(17); vlan != 0) {
        auto parsed = VlanId::from_number(vlan);
        if (!parsed) {
            return false;
        }
        a.identity.vlan = *parsed;
    }
    a.link = s.text(18);
    const std::string addresses = s.text(19);
    for (std::size_t begin = 0; begin < addresses.size();) {
        const std::size_t end = std::min(addresses.find(',', begin), addresses.size());
        auto parsed = IpPrefix::parse(std::string_view(addresses).substr(begin, end - begin));
        if (!parsed) {
            return false;
        }
        a.identity.addresses.push_back(*parsed);
        begin = end + 1;
    }
    return true;
}

Result<void> SqliteStore::insert_addresses(const core::Assignment& a)
{
    std::lock_guard lock(mutex_);
    std::int64_t position = 0;
    for (const auto& address : a.identity.addresses) {
        auto s =
            SqliteStatement::prepare(*db_, "INSERT INTO assignment_addresses (address, prefix, position, vm, guid) "
                                           "VALUES (?1, ?2, ?3, ?4, ?5)");
        if (!s) {
            return s.error();
        }
        s->bind(1, address.address())
            .bind(2, std::int64_t{address.prefix_length()})
            .bind(3, position++)
            .bind(4, a.vm.str())
            .bind(5, a.guid.to_string());
        if (auto r = s->run(); !r) {
            if (s->last_code() == SQLITE_CONSTRAINT_PRIMARYKEY) {
                return make_error(errc::address_in_use,
                                  "address " + address.address() + " is held by another assignment; see `hyvctl list`");
            }
            return make_error(r.error().code, "cannot record address " + address.address() + ": " + r.error().message);
        }
    }
    return {};
}

Result<void> SqliteStore::own_link(const std::string& name, const std::string& parent, const MdevUuid& mdev,
                                   core::TimeMs now, const std::string& op_id)
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(*db_, "INSERT OR IGNORE INTO hyvd_links (name, parent, mdev_uuid, created_at, "
                                            "op_id) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!s) {
        return s.error();
    }
    s->bind(1, name).bind(2, parent).bind(3, mdev.to_string()).bind(4, now).bind(5, op_id);
    return s->run();
}

Result<void> SqliteStore::disown_link(const std::string& name)
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(*db_, "DELETE FROM hyvd_links WHERE name = ?1");
    if (!s) {
        return s.error();
    }
    s->bind(1, name);
    return s->run();
}

Result<std::vector<std::string>> SqliteStore::owned_links()
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(*db_, "SELECT name FROM hyvd_links ORDER BY name");
    if (!s) {
        return s.error();
    }
    return select_all(*s, [](const SqliteStatement& row) { return row.text(0); });
}

}  // namespace hyv::adapters
