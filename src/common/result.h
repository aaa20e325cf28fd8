#pragma once
// Result<T>: the outcome of anything that handles untrusted input or can fail at run time.
// Never throws on the data path; callers must look at it ([[nodiscard]]).
#include <string>
#include <utility>
#include <variant>

namespace reservoir {

// An error with an optional PostgreSQL SQLSTATE so it can travel to a client unchanged.
struct Error {
  std::string message;
  std::string sqlstate = "XX000";  // internal_error unless a layer knows better
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// For operations that return nothing on success.
struct Ok {};
using Status = Result<Ok>;

inline Error make_error(std::string sqlstate, std::string message) {
  return Error{std::move(message), std::move(sqlstate)};
}

}  // namespace reservoir
