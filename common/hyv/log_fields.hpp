// What the current thread is working on, for log sinks that can carry it as structured data
// (hyvd's journal sink: HYV_OP_ID, HYV_VM, HYV_GUID, HYV_MDEV). Operations set it with a
// LogScope; the text of each log line still says the same, so stderr logs lose nothing.
#pragma once

#include <string>
#include <utility>

namespace hyv {

struct LogFields {
    std::string op_id;  // "op-<16 hex>"
    std::string vm;
    std::string guid;  // normal form
    std::string mdev;  // UUID
};

// This thread's fields; empty ones are not sent.
inline LogFields& current_log_fields()
{
    thread_local LogFields fields;
    return fields;
}

// Sets this thread's fields until destroyed, then restores the ones before (scopes nest).
class LogScope {
public:
    explicit LogScope(LogFields fields) : saved_(std::exchange(current_log_fields(), std::move(fields))) {}
    ~LogScope() { current_log_fields() = std::move(saved_); }
    LogScope(const LogScope&) = delete;
    LogScope& operator=(const LogScope&) = delete;

private:
    LogFields saved_;
};

}  // namespace hyv
