// hyv::core::Store on a sqlite file: WAL, foreign keys on, busy timeout, schema
// migrations embedded in the binary and applied at open. One SqliteStore per
// database file at a time, enforced with flock on "<db>.lock".
#pragma once

#include "hyvd/core/ports.hpp"

#include <memory>
#include <mutex>
#include <optional>
#include <string>

struct sqlite3;

namespace hyv::adapters {

class SqliteConnection;

struct SqliteStoreOptions {
    // Apply migrations up to this version only (tests of upgrades); nullopt: all.
    std::optional<int> migrate_to;
};

class SqliteStore final : public core::Store {
public:
    // Errors: "db-locked" when another hyvd holds the database, "db-open",
    // "db-too-new" when the file's schema is newer than this binary, "db-migrate".
    static Result<std::unique_ptr<SqliteStore>> open(const std::string& path, const SqliteStoreOptions& options = {});
    ~SqliteStore() override;

    // PRAGMA user_version after migrations.
    Result<int> schema_version();
    // The newest schema this binary knows.
    static int latest_schema_version();

    Result<void> transaction(const std::function<Result<void>()>& body) override;

    Result<void> upsert_device(const core::HostDevice& device, core::TimeMs now) override;
    Result<void> mark_device_vanished(const Guid& guid, core::TimeMs now) override;
    Result<std::optional<core::DeviceRecord>> device(const Guid& guid) override;
    Result<std::vector<core::DeviceRecord>> devices() override;

    Result<void> insert_vm(const core::VmRecord& vm) override;
    Result<void> delete_vm(const VmId& vm) override;
    Result<std::optional<core::VmRecord>> vm(const VmId& vm) override;
    Result<std::vector<core::VmRecord>> vms() override;
    Result<void> set_vm_observed_state(const VmId& vm, bool running, core::TimeMs now) override;

    Result<void> insert_assignment(const core::Assignment& assignment) override;
    Result<void> update_assignment(const core::Assignment& assignment, AssignmentState expected) override;
    Result<void> delete_assignment(const VmId& vm, const Guid& guid) override;
    Result<std::optional<core::Assignment>> assignment(const VmId& vm, const Guid& guid) override;
    Result<std::vector<core::Assignment>> assignments() override;

    // sqlite_store_mdevs.cpp
    Result<void> own_mdev(const MdevUuid& mdev, const Guid& guid, core::TimeMs now, const std::string& op_id) override;
    Result<void> disown_mdev(const MdevUuid& mdev) override;
    Result<std::vector<MdevUuid>> owned_mdevs() override;

    // sqlite_store_links.cpp
    Result<void> own_link(const std::string& name, const std::string& parent, const MdevUuid& mdev, core::TimeMs now,
                          const std::string& op_id) override;
    Result<void> disown_link(const std::string& name) override;
    Result<std::vector<std::string>> owned_links() override;

    Result<std::int64_t> append_event(const core::Event& event) override;
    Result<std::vector<core::Event>> events(std::int64_t since_id, std::size_t limit) override;
    Result<std::int64_t> last_event_id() override;

private:
    // The identity's addresses of a just inserted row; "address-in-use" when another row holds one.
    Result<void> insert_addresses(const core::Assignment& a);

    SqliteStore(std::unique_ptr<SqliteConnection> db, int lock_fd, std::string path);

    std::unique_ptr<SqliteConnection> db_;
    int lock_fd_;
    std::string path_;
    // One connection shared by all threads; a transaction holds this for its whole body,
    // so it is recursive (the body calls back into the store).
    std::recursive_mutex mutex_;
    int transaction_depth_ = 0;
};

}  // namespace hyv::adapters
