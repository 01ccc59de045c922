#include "hyvd/adapters/sqlite_store_db.hpp"

#include "schema_migrations.hpp"
#include "hyv/error_codes.hpp"

#include <spdlog/spdlog.h>

#include <sqlite3.h>

namespace hyv::adapters {

Result<std::unique_ptr<SqliteConnection>> SqliteConnection::open(const std::string& path)
{
    sqlite3* db = nullptr;
    const int rc =
        sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close(db);
        return make_error(errc::db_open, "cannot open database " + path + ": " + why +
                                             "; check the directory exists and is writable by hyvd");
    }
    sqlite3_extended_result_codes(db, 1);
    return std::unique_ptr<SqliteConnection>(new SqliteConnection(db));
}

SqliteConnection::~SqliteConnection()
{
    // Statements are all finalized by their owners first, so close cannot fail with SQLITE_BUSY.
    sqlite3_close(db_);
}

Result<void> SqliteConnection::exec(std::string_view sql)
{
    char* message = nullptr;
    const std::string statement(sql);
    if (sqlite3_exec(db_, statement.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
        std::string why = message ? message : last_error();
        sqlite3_free(message);
        return make_error(errc::db_error, why);
    }
    return {};
}

std::string SqliteConnection::last_error() const
{
    return sqlite3_errmsg(db_);
}

int SqliteConnection::changes() const
{
    return sqlite3_changes(db_);
}

Result<SqliteStatement> SqliteStatement::prepare(SqliteConnection& db, std::string_view sql)
{
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db.handle(), sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) != SQLITE_OK) {
        return make_error(errc::db_error, "cannot prepare statement: " + db.last_error());
    }
    return SqliteStatement(db, stmt);
}

SqliteStatement::~SqliteStatement()
{
    sqlite3_finalize(stmt_);
}

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), last_code_(other.last_code_)
{
    other.stmt_ = nullptr;
}

SqliteStatement& SqliteStatement::bind(int index, std::string_view text)
{
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
}

SqliteStatement& SqliteStatement::bind(int index, std::int64_t value)
{
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
}

SqliteStatement& SqliteStatement::bind(int index, std::optional<std::int64_t> value)
{
    if (value) {
        sqlite3_bind_int64(stmt_, index, *value);
    } else {
        sqlite3_bind_null(stmt_, index);
    }
    return *this;
}

Result<bool> SqliteStatement::step()
{
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) {
        return true;
    }
    if (rc == SQLITE_DONE) {
        return false;
    }
    last_code_ = rc;
    return make_error(errc::db_error, db_->last_error());
}

Result<void> SqliteStatement::run()
{
    for (;;) {
        auto row = step();
        if (!row) {
            return row.error();
        }
        if (!*row) {
            return {};
        }
    }
}

std::string SqliteStatement::text(int column) const
{
    const auto* bytes = sqlite3_column_text(stmt_, column);
    const int size = sqlite3_column_bytes(stmt_, column);
    return bytes ? std::string(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(size)) : std::string();
}

std::int64_t SqliteStatement::integer(int column) const
{
    return sqlite3_column_int64(stmt_, column);
}

std::optional<std::int64_t> SqliteStatement::optional_integer(int column) const
{
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) {
        return std::nullopt;
    }
    return sqlite3_column_int64(stmt_, column);
}

int latest_embedded_schema_version()
{
    return std::end(schema::migrations)[-1].version;
}

Result<int> read_user_version(SqliteConnection& db)
{
    auto stmt = SqliteStatement::prepare(db, "PRAGMA user_version");
    if (!stmt) {
        return stmt.error();
    }
    auto row = stmt->step();
    if (!row) {
        return row.error();
    }
    return static_cast<int>(stmt->integer(0));
}

Result<void> apply_migrations(SqliteConnection& db, const std::string& path, std::optional<int> target)
{
    auto current = read_user_version(db);
    if (!current) {
        return current.error();
    }
    const int latest = latest_embedded_schema_version();
    if (*current > latest) {
        return make_error(errc::db_too_new, "database " + path + " has schema version " + std::to_string(*current) +
                                                " but this hyvd knows only up to " + std::to_string(latest) +
                                                "; run a newer hyvd");
    }
    for (const auto& migration : schema::migrations) {
        if (migration.version <= *current || (target && migration.version > *target)) {
            continue;
        }
        // The migration and the version bump commit together: a crash leaves the old version intact.
        if (auto begin = db.exec("BEGIN IMMEDIATE"); !begin) {
            return make_error(errc::db_migrate, "cannot start migration of " + path + ": " + begin.error().message);
        }
        auto applied = db.exec(migration.sql);
        if (applied) {
            applied = db.exec("PRAGMA user_version = " + std::to_string(migration.version));
        }
        if (!applied) {
            (void)db.exec("ROLLBACK");
            return make_error(errc::db_migrate, "migration " + std::string(migration.name) + " failed on " + path +
                                                    ": " + applied.error().message +
                                                    "; the database was left at version " +
                                                    std::to_string(migration.version - 1));
        }
        if (auto commit = db.exec("COMMIT"); !commit) {
            (void)db.exec("ROLLBACK");
            return make_error(errc::db_migrate,
                              "cannot commit migration " + std::string(migration.name) + ": " + commit.error().message);
        }
        spdlog::info("database {}: applied migration {}", path, migration.name);
    }
    return {};
}

}  // namespace hyv::adapters
