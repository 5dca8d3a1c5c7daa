// Internal error type. C++ code throws tandem::Error; the C API boundary (runtime/c_api.cpp)
// catches it and turns it into a tandem_status plus the thread-local last-error message.
#pragma once
#include <stdexcept>
#include <string>

#include "tandem/engine.h"

namespace tandem {

class Error : public std::runtime_error {
 public:
  Error(tandem_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  tandem_status status() const { return status_; }

 private:
  tandem_status status_;
};

}  // namespace tandem
