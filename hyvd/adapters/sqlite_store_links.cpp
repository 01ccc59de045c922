// SqliteStore, schema 4: the addresses of network identities (assignment_addresses) and table
// hyvd_links, the host links hyvd made for them.
#include "hyvd/adapters/sqlite_store.hpp"

#include "hyvd/adapters/sqlite_store_db.hpp"
#include "hyv/error_codes.hpp"

#include <sqlite3.h>

namespace hyv::adapters {

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
    std::vector<std::string> owned;
    for (;;) {
        auto row = s->step();
        if (!row) {
            return row.error();
        }
        if (!*row) {
            return owned;
        }
        owned.push_back(s->text(0));
    }
}

}  // namespace hyv::adapters
