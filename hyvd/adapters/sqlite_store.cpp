#include "hyvd/adapters/sqlite_store.hpp"

#include "hyvd/adapters/sqlite_store_db.hpp"
#include "hyv/error_codes.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace hyv::adapters {

using core::Assignment;
using core::DeviceRecord;
using core::Event;
using core::HostDevice;
using core::TimeMs;
using core::VmRecord;

namespace {

constexpr int busy_timeout_ms = 5000;

// RAII for the lock file descriptor until it is handed to the store.
struct LockFd {
    int fd = -1;
    ~LockFd()
    {
        if (fd >= 0) {
            close(fd);
        }
    }
    int release() { return std::exchange(fd, -1); }
};

bool is_constraint(int code, int extended)
{
    return code == extended;
}

Error db_error(const std::string& what, const Error& cause)
{
    return make_error(cause.code, what + ": " + cause.message);
}

HostDevice read_host_device(const SqliteStatement& s, int first)
{
    HostDevice d;
    d.guid = Guid::parse(s.text(first)).value();
    d.ibdev = s.text(first + 1);
    d.driver = s.text(first + 2);
    d.ports = static_cast<std::uint32_t>(s.integer(first + 3));
    d.link_layer = s.text(first + 4);
    d.mdev_parent = s.text(first + 5);
    d.mdev_type = s.text(first + 6);
    return d;
}

constexpr const char* device_columns =
    "guid, ibdev, driver, ports, link_layer, mdev_parent, mdev_type, first_seen, last_seen, vanished_at, netdev";

DeviceRecord read_device_record(const SqliteStatement& s)
{
    DeviceRecord r;
    r.device = read_host_device(s, 0);
    r.first_seen = s.integer(7);
    r.last_seen = s.integer(8);
    r.vanished_at = s.optional_integer(9);
    r.device.netdev = s.text(10);
    return r;
}

constexpr const char* vm_columns = "name, uuid, kind, qmp_socket, created_at, observed_state, observed_at";

Result<VmRecord> read_vm(const SqliteStatement& s)
{
    auto name = VmId::parse(s.text(0));
    auto kind = parse_vm_kind(s.text(2));
    if (!name || !kind) {
        return make_error(errc::db_corrupt, "vms row '" + s.text(0) + "' holds an invalid name or kind");
    }
    VmRecord vm;
    vm.name = *name;
    vm.uuid = s.text(1);
    vm.kind = *kind;
    vm.qmp_socket = s.text(3);
    vm.created_at = s.integer(4);
    vm.observed_state = s.text(5);
    vm.observed_at = s.optional_integer(6);
    return vm;
}

constexpr const char* assignment_columns =
    "vm, guid, mdev_uuid, qdev_id, guest_pci_address, state, persistent, quota_qps, quota_cqs, quota_mrs, "
    "quota_pinned_bytes, created_at, updated_at, last_error, op_id, identity_unisolated, identity_mac, "
    "identity_vlan, identity_link";
// What read_assignment reads: the columns above, then the identity's addresses in their order (schema 4).
constexpr const char* assignment_select =
    "SELECT vm, guid, mdev_uuid, qdev_id, guest_pci_address, state, persistent, quota_qps, quota_cqs, quota_mrs, "
    "quota_pinned_bytes, created_at, updated_at, last_error, op_id, identity_unisolated, identity_mac, "
    "identity_vlan, identity_link, (SELECT coalesce(group_concat(p, ','), '') FROM (SELECT address || '/' || prefix "
    "AS p FROM assignment_addresses x WHERE x.vm = assignments.vm AND x.guid = assignments.guid ORDER BY position)) "
    "FROM assignments";

Result<Assignment> read_assignment(const SqliteStatement& s)
{
    auto vm = VmId::parse(s.text(0));
    auto guid = Guid::parse(s.text(1));
    auto mdev = MdevUuid::parse(s.text(2));
    auto state = parse_assignment_state(s.text(5));
    if (!vm || !guid || !mdev || !state) {
        return make_error(errc::db_corrupt,
                          "assignments row (" + s.text(0) + ", " + s.text(1) + ") holds invalid values");
    }
    Assignment a;
    a.vm = *vm;
    a.guid = *guid;
    a.mdev = *mdev;
    a.qdev_id = s.text(3);
    a.guest_pci_address = s.text(4);
    a.state = *state;
    a.persistent = s.integer(6) != 0;
    a.quota.max_qps = static_cast<std::uint32_t>(s.integer(7));
    a.quota.max_cqs = static_cast<std::uint32_t>(s.integer(8));
    a.quota.max_mrs = static_cast<std::uint32_t>(s.integer(9));
    a.quota.max_pinned_bytes = static_cast<std::uint64_t>(s.integer(10));
    a.created_at = s.integer(11);
    a.updated_at = s.integer(12);
    a.last_error = s.text(13);
    a.op_id = s.text(14);
    if (!read_assignment_identity(s, a)) {
        return make_error(errc::db_corrupt,
                          "assignments row (" + s.text(0) + ", " + s.text(1) + ") holds an invalid network identity");
    }
    return a;
}

// Binds the 19 assignment columns in `assignment_columns` order starting at index 1.
void bind_assignment(SqliteStatement& s, const Assignment& a)
{
    s.bind(1, a.vm.str())
        .bind(2, a.guid.to_string())
        .bind(3, a.mdev.to_string())
        .bind(4, a.qdev_id)
        .bind(5, a.guest_pci_address)
        .bind(6, to_string(a.state))
        .bind(7, std::int64_t{a.persistent ? 1 : 0})
        .bind(8, std::int64_t{a.quota.max_qps})
        .bind(9, std::int64_t{a.quota.max_cqs})
        .bind(10, std::int64_t{a.quota.max_mrs})
        .bind(11, static_cast<std::int64_t>(a.quota.max_pinned_bytes))
        .bind(12, a.created_at)
        .bind(13, a.updated_at)
        .bind(14, a.last_error)
        .bind(15, a.op_id)
        .bind(16, std::int64_t{a.identity.unisolated ? 1 : 0})
        .bind(17, a.identity.mac ? a.identity.mac->to_string() : std::string())
        .bind(18, std::int64_t{a.identity.vlan ? a.identity.vlan->value() : 0})
        .bind(19, a.link);
}

Event read_event(const SqliteStatement& s)
{
    return Event{s.integer(0), s.integer(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6), s.text(7)};
}

}  // namespace

int SqliteStore::latest_schema_version()
{
    return latest_embedded_schema_version();
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path, const SqliteStoreOptions& options)
{
    const std::string lock_path = path + ".lock";
    LockFd lock{::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)};
    if (lock.fd < 0) {
        return make_error(errc::db_open, "cannot open lock file " + lock_path + ": " + std::strerror(errno) +
                                             "; check the directory exists and is writable by hyvd");
    }
    if (flock(lock.fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            return make_error(errc::db_locked,
                              "database " + path +
                                  " is in use by another hyvd; stop it first (one daemon per database)");
        }
        return make_error(errc::db_open, "cannot lock " + lock_path + ": " + std::strerror(errno));
    }
    auto db = SqliteConnection::open(path);
    if (!db) {
        return db.error();
    }
    for (const char* pragma : {"PRAGMA journal_mode = WAL", "PRAGMA foreign_keys = ON", "PRAGMA synchronous = FULL"}) {
        if (auto r = (*db)->exec(pragma); !r) {
            return make_error(errc::db_open, "database " + path + ": " + pragma + " failed: " + r.error().message);
        }
    }
    if (auto r = (*db)->exec("PRAGMA busy_timeout = " + std::to_string(busy_timeout_ms)); !r) {
        return make_error(errc::db_open, "database " + path + ": busy_timeout failed: " + r.error().message);
    }
    if (auto migrated = apply_migrations(**db, path, options.migrate_to); !migrated) {
        return migrated.error();
    }
    return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(*db), lock.release(), path));
}

SqliteStore::SqliteStore(std::unique_ptr<SqliteConnection> db, int lock_fd, std::string path)
    : db_(std::move(db)), lock_fd_(lock_fd), path_(std::move(path))
{
}

SqliteStore::~SqliteStore()
{
    db_.reset();
    close(lock_fd_);  // releases the flock only after the database is closed
}

Result<int> SqliteStore::schema_version()
{
    std::lock_guard lock(mutex_);
    return read_user_version(*db_);
}

Result<void> SqliteStore::transaction(const std::function<Result<void>()>& body)
{
    std::lock_guard lock(mutex_);
    const bool outermost = transaction_depth_ == 0;
    const std::string savepoint = "hyv_sp" + std::to_string(transaction_depth_);
    if (auto r = db_->exec(outermost ? "BEGIN IMMEDIATE" : "SAVEPOINT " + savepoint); !r) {
        return db_error("cannot begin transaction", r.error());
    }
    ++transaction_depth_;
    Result<void> result = body();
    --transaction_depth_;
    if (result) {
        if (auto r = db_->exec(outermost ? "COMMIT" : "RELEASE " + savepoint); !r) {
            (void)db_->exec(outermost ? "ROLLBACK" : "ROLLBACK TO " + savepoint + "; RELEASE " + savepoint);
            return db_error("cannot commit", r.error());
        }
        return {};
    }
    (void)db_->exec(outermost ? "ROLLBACK" : "ROLLBACK TO " + savepoint + "; RELEASE " + savepoint);
    return result;
}

Result<void> SqliteStore::upsert_device(const HostDevice& d, TimeMs now)
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(
        *db_,
        "INSERT INTO host_devices (guid, ibdev, driver, ports, link_layer, mdev_parent, mdev_type, first_seen, "
        "last_seen, vanished_at, netdev) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, NULL, ?9) "
        "ON CONFLICT (guid) DO UPDATE SET ibdev = ?2, driver = ?3, ports = ?4, link_layer = ?5, mdev_parent = ?6, "
        "mdev_type = ?7, last_seen = ?8, vanished_at = NULL, netdev = ?9");
    if (!s) {
        return s.error();
    }
    s->bind(1, d.guid.to_string())
        .bind(2, d.ibdev)
        .bind(3, d.driver)
        .bind(4, std::int64_t{d.ports})
        .bind(5, d.link_layer)
        .bind(6, d.mdev_parent)
        .bind(7, d.mdev_type)
        .bind(8, now)
        .bind(9, d.netdev);
    return s->run();
}

Result<void> SqliteStore::mark_device_vanished(const Guid& guid, TimeMs now)
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(
        *db_, "UPDATE host_devices SET vanished_at = ?2 WHERE guid = ?1 AND vanished_at IS NULL");
    if (!s) {
        return s.error();
    }
    s->bind(1, guid.to_string()).bind(2, now);
    return s->run();
}

Result<std::optional<DeviceRecord>> SqliteStore::device(const Guid& guid)
{
    std::lock_guard lock(mutex_);
    auto s =
        SqliteStatement::prepare(*db_, std::string("SELECT ") + device_columns + " FROM host_devices WHERE guid = ?1");
    if (!s) {
        return s.error();
    }
    s->bind(1, guid.to_string());
    return select_one(*s, read_device_record);
}

Result<std::vector<DeviceRecord>> SqliteStore::devices()
{
    std::lock_guard lock(mutex_);
    auto s =
        SqliteStatement::prepare(*db_, std::string("SELECT ") + device_columns + " FROM host_devices ORDER BY guid");
    if (!s) {
        return s.error();
    }
    return select_all(*s, read_device_record);
}

Result<void> SqliteStore::insert_vm(const VmRecord& vm)
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(
        *db_, "INSERT INTO vms (name, uuid, kind, qmp_socket, created_at) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!s) {
        return s.error();
    }
    s->bind(1, vm.name.str())
        .bind(2, vm.uuid)
        .bind(3, to_string(vm.kind))
        .bind(4, vm.qmp_socket)
        .bind(5, vm.created_at);
    if (auto r = s->run(); !r) {
        if (is_constraint(s->last_code(), SQLITE_CONSTRAINT_PRIMARYKEY)) {
            return make_error(errc::vm_exists, "VM " + vm.name.str() + " is already known to hyvd");
        }
        return r;
    }
    return {};
}

Result<void> SqliteStore::delete_vm(const VmId& vm)
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(*db_, "DELETE FROM vms WHERE name = ?1");
    if (!s) {
        return s.error();
    }
    s->bind(1, vm.str());
    if (auto r = s->run(); !r) {
        // ON DELETE RESTRICT reports itself as SQLITE_CONSTRAINT_TRIGGER, a plain FK as _FOREIGNKEY.
        if (is_constraint(s->last_code(), SQLITE_CONSTRAINT_FOREIGNKEY) ||
            is_constraint(s->last_code(), SQLITE_CONSTRAINT_TRIGGER)) {
            return make_error(errc::vm_has_assignments,
                              "VM " + vm.str() + " still has device assignments; detach them first");
        }
        return r;
    }
    if (db_->changes() == 0) {
        return make_error(errc::unknown_vm, "VM " + vm.str() + " is not known to hyvd; see `hyvctl vms`");
    }
    return {};
}

Result<std::optional<VmRecord>> SqliteStore::vm(const VmId& vm)
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(*db_, std::string("SELECT ") + vm_columns + " FROM vms WHERE name = ?1");
    if (!s) {
        return s.error();
    }
    s->bind(1, vm.str());
    return select_one(*s, read_vm);
}

Result<std::vector<VmRecord>> SqliteStore::vms()
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(*db_, std::string("SELECT ") + vm_columns + " FROM vms ORDER BY name");
    if (!s) {
        return s.error();
    }
    return select_all(*s, read_vm);
}

Result<void> SqliteStore::set_vm_observed_state(const VmId& vm, bool running, TimeMs now)
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(*db_, "UPDATE vms SET observed_state = ?2, observed_at = ?3 WHERE name = ?1");
    if (!s) {
        return s.error();
    }
    s->bind(1, vm.str()).bind(2, running ? "running" : "stopped").bind(3, now);
    return s->run();
}

Result<void> SqliteStore::insert_assignment(const Assignment& a)
{
    if (a.state == AssignmentState::removed) {
        return make_error(errc::invalid_transition, "an assignment in state 'removed' is never stored");
    }
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(*db_, std::string("INSERT INTO assignments (") + assignment_columns +
                                                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                                                "?13, ?14, ?15, ?16, ?17, ?18, ?19)");
    if (!s) {
        return s.error();
    }
    bind_assignment(*s, a);
    if (auto r = s->run(); !r) {
        if (is_constraint(s->last_code(), SQLITE_CONSTRAINT_PRIMARYKEY)) {
            return make_error(errc::already_assigned, "device " + a.guid.to_string() + " is already assigned to VM " +
                                                          a.vm.str() + "; see `hyvctl list`");
        }
        if (is_constraint(s->last_code(), SQLITE_CONSTRAINT_FOREIGNKEY)) {
            return make_error(errc::unknown_vm_or_device, "VM " + a.vm.str() + " or device " + a.guid.to_string() +
                                                              " is not known; see `hyvctl vms` and `hyvctl devices`");
        }
        return db_error("cannot record assignment", r.error());
    }
    return insert_addresses(a);
}

Result<void> SqliteStore::update_assignment(const Assignment& a, AssignmentState expected)
{
    if (a.state == AssignmentState::removed) {
        return make_error(errc::invalid_transition, "use delete_assignment for state 'removed'");
    }
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(
        *db_,
        "UPDATE assignments SET mdev_uuid = ?3, qdev_id = ?4, guest_pci_address = ?5, state = ?6, persistent = ?7, "
        "quota_qps = ?8, quota_cqs = ?9, quota_mrs = ?10, quota_pinned_bytes = ?11, created_at = ?12, "
        "updated_at = ?13, last_error = ?14, op_id = ?15, identity_unisolated = ?16, identity_mac = ?17, "
        "identity_vlan = ?18, identity_link = ?19 WHERE vm = ?1 AND guid = ?2 AND state = ?20");
    if (!s) {
        return s.error();
    }
    bind_assignment(*s, a);
    s->bind(20, to_string(expected));
    if (auto r = s->run(); !r) {
        return db_error("cannot update assignment", r.error());
    }
    if (db_->changes() != 1) {
        return make_error(errc::state_conflict, "assignment of " + a.guid.to_string() + " to " + a.vm.str() +
                                                    " is no longer in state " + std::string(to_string(expected)) +
                                                    "; another operation changed it, run `hyvctl list`");
    }
    return {};
}

Result<void> SqliteStore::delete_assignment(const VmId& vm, const Guid& guid)
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(*db_, "DELETE FROM assignments WHERE vm = ?1 AND guid = ?2");
    if (!s) {
        return s.error();
    }
    s->bind(1, vm.str()).bind(2, guid.to_string());
    return s->run();
}

Result<std::optional<Assignment>> SqliteStore::assignment(const VmId& vm, const Guid& guid)
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(*db_, std::string(assignment_select) + " WHERE vm = ?1 AND guid = ?2");
    if (!s) {
        return s.error();
    }
    s->bind(1, vm.str()).bind(2, guid.to_string());
    return select_one(*s, read_assignment);
}

Result<std::vector<Assignment>> SqliteStore::assignments()
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(*db_, std::string(assignment_select) + " ORDER BY vm, guid");
    if (!s) {
        return s.error();
    }
    return select_all(*s, read_assignment);
}

Result<std::int64_t> SqliteStore::append_event(const Event& e)
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(
        *db_, "INSERT INTO events (time, op_id, vm, guid, mdev, kind, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!s) {
        return s.error();
    }
    s->bind(1, e.time)
        .bind(2, e.op_id)
        .bind(3, e.vm)
        .bind(4, e.guid)
        .bind(5, e.mdev)
        .bind(6, e.kind)
        .bind(7, e.message);
    if (auto r = s->run(); !r) {
        return db_error("cannot append event", r.error());
    }
    return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_->handle()));
}

Result<std::vector<Event>> SqliteStore::events(std::int64_t since_id, std::size_t limit)
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(
        *db_, "SELECT id, time, op_id, vm, guid, mdev, kind, message FROM events WHERE id > ?1 ORDER BY id LIMIT ?2");
    if (!s) {
        return s.error();
    }
    s->bind(1, since_id).bind(2, static_cast<std::int64_t>(limit));
    return select_all(*s, read_event);
}

Result<std::int64_t> SqliteStore::last_event_id()
{
    std::lock_guard lock(mutex_);
    auto s = SqliteStatement::prepare(*db_, "SELECT coalesce(max(id), 0) FROM events");
    if (!s) {
        return s.error();
    }
    auto row = s->step();
    if (!row) {
        return row.error();
    }
    return s->integer(0);
}

}  // namespace hyv::adapters
