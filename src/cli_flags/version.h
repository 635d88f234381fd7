#pragma once

// Every Umbra binary's version (--version, umbra_build_info), without CLI11.
namespace umbra::cli_flags {

inline constexpr const char* Version = "0.2.0";

}  // namespace umbra::cli_flags
