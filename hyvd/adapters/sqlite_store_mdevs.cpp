// SqliteStore: table hyvd_mdevs (schema 3), the mdevs hyvd made for its own assignments.
#include "hyvd/adapters/sqlite_store.hpp"

#include "hyvd/adapters/sqlite_store_db.hpp"
#include "hyv/error_codes.hpp"

namespace hyv::adapters {

Result<void> SqliteStore::own_mdev(const MdevUuid& mdev, const Guid& guid, core::TimeMs now, const std::string& op_id)
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(*db_, "INSERT OR IGNORE INTO hyvd_mdevs (mdev_uuid, guid, created_at, op_id) "
                                            "VALUES (?1, ?2, ?3, ?4)");
    if (!s) {
        return s.error();
    }
    s->bind(1, mdev.to_string()).bind(2, guid.to_string()).bind(3, now).bind(4, op_id);
    return s->run();
}

Result<void> SqliteStore::disown_mdev(const MdevUuid& mdev)
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(*db_, "DELETE FROM hyvd_mdevs WHERE mdev_uuid = ?1");
    if (!s) {
        return s.error();
    }
    s->bind(1, mdev.to_string());
    return s->run();
}

Result<std::vector<MdevUuid>> SqliteStore::owned_mdevs()
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(*db_, "SELECT mdev_uuid FROM hyvd_mdevs ORDER BY mdev_uuid");
    if (!s) {
        return s.error();
    }
    return select_all(*s, [](const SqliteStatement& row) -> Result<MdevUuid> {
        auto uuid = MdevUuid::parse(row.text(0));
        if (!uuid) {
            return make_error(errc::db_corrupt, "hyvd_mdevs row \"" + row.text(0) + "\" is not an mdev UUID");
        }
        return *uuid;
    });
}

}  // namespace hyv::adapters
