// RAII over the sqlite3 C API, for the sqlite store only.
#pragma once

#include "hyv/result.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace hyv::core {
struct Assignment;
}

struct sqlite3;
struct sqlite3_stmt;

namespace hyv::adapters {

class SqliteConnection {
public:
    static Result<std::unique_ptr<SqliteConnection>> open(const std::string& path);
    ~SqliteConnection();
    SqliteConnection(const SqliteConnection&) = delete;
    SqliteConnection& operator=(const SqliteConnection&) = delete;

    sqlite3* handle() const { return db_; }
    // Runs one or more statements without results.
    Result<void> exec(std::string_view sql);
    std::string last_error() const;
    // Rows changed by the last INSERT/UPDATE/DELETE on this connection.
    int changes() const;

private:
    explicit SqliteConnection(sqlite3* db) : db_(db) {}
    sqlite3* db_;
};

// A prepared statement; bind() indexes are 1-based like sqlite's.
class SqliteStatement {
public:
    static Result<SqliteStatement> prepare(SqliteConnection& db, std::string_view sql);
    ~SqliteStatement();
    SqliteStatement(SqliteStatement&& other) noexcept;
    SqliteStatement& operator=(SqliteStatement&&) = delete;
    SqliteStatement(const SqliteStatement&) = delete;
    SqliteStatement& operator=(const SqliteStatement&) = delete;

    SqliteStatement& bind(int index, std::string_view text);
    SqliteStatement& bind(int index, std::int64_t value);
    SqliteStatement& bind(int index, std::optional<std::int64_t> value);

    // true: a row is available; false: done. Errors carry sqlite's message.
    Result<bool> step();
    // Runs to completion, for statements without result rows.
    Result<void> run();

    std::string text(int column) const;
    std::int64_t integer(int column) const;
    std::optional<std::int64_t> optional_integer(int column) const;

    // Extended result code of the last failed step (SQLITE_CONSTRAINT_UNIQUE, ...).
    int last_code() const { return last_code_; }

private:
    SqliteStatement(SqliteConnection& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
    SqliteConnection* db_;
    sqlite3_stmt* stmt_;
    int last_code_ = 0;
};

// What a row reader returns, whether or not it can fail: read_vm gives Result<VmRecord>,
// read_event an Event; both are read into T.
template <typename T>
struct RowValue {
    using type = T;
};
template <typename T>
struct RowValue<Result<T>> {
    using type = T;
};
template <typename Read>
using RowOf = typename RowValue<std::invoke_result_t<Read, const SqliteStatement&>>::type;

// Steps a bound SELECT once: its row read with `read`, or nullopt when there is none.
template <typename Read>
Result<std::optional<RowOf<Read>>> select_one(SqliteStatement& s, Read read)
{
    auto row = s.step();
    if (!row) {
        return row.error();
    }
    if (!*row) {
        return std::optional<RowOf<Read>>();
    }
    Result<RowOf<Read>> value = read(s);
    if (!value) {
        return value.error();
    }
    return std::optional<RowOf<Read>>(std::move(*value));
}

// Steps a bound SELECT to its end, reading every row with `read`; the first bad row fails it.
template <typename Read>
Result<std::vector<RowOf<Read>>> select_all(SqliteStatement& s, Read read)
{
    std::vector<RowOf<Read>> out;
    for (;;) {
        auto row = s.step();
        if (!row) {
            return row.error();
        }
        if (!*row) {
            return out;
        }
        Result<RowOf<Read>> value = read(s);
        if (!value) {
            return value.error();
        }
        out.push_back(std::move(*value));
    }
}

// Schema migrations embedded from schema/*.sql (see docs/schema.md).
int latest_embedded_schema_version();
Result<int> read_user_version(SqliteConnection& db);
// Applies every embedded migration newer than PRAGMA user_version (up to `target`), each in
// its own transaction with its version bump. Errors "db-too-new", "db-migrate".
Result<void> apply_migrations(SqliteConnection& db, const std::string& path, std::optional<int> target);

// The identity columns of an assignment row (schema 4; columns 15-19 of the assignment SELECT in
// sqlite_store.cpp) into `a`; false when one holds what no parse accepts. sqlite_store_links.cpp.
bool read_assignment_identity(const SqliteStatement& s, core::Assignment& a);

}  // namespace hyv::adapters
