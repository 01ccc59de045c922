// Errors as values at component boundaries: a small stand-in for C++23 std::expected,
// which g++ 12 only offers in -std=c++23 mode.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace hyv {

// What went wrong, for a person: `message` names the cause and, where there is one, the fix.
struct Error {
    std::string code;     // stable, machine-readable: one of hyv/error_codes.hpp
    std::string message;  // one line
};

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error error) : v_(std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return error_; }

private:
    Error error_;
    bool ok_ = true;
};

inline Error make_error(std::string code, std::string message)
{
    return Error{std::move(code), std::move(message)};
}

}  // namespace hyv
