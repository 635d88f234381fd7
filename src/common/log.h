#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace umbra::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };
enum class Format { Text, Json };

using Field = std::pair<std::string, std::string>;
using Fields = std::vector<Field>;

// Process-wide settings, set once by main() before threads start.
void configure(Format format, Level level);
// Parses "debug|info|warn|error" and "text|json"; false on an unknown word.
bool parseLevel(std::string_view s, Level& out);
bool parseFormat(std::string_view s, Format& out);
bool enabled(Level level);

// One line per call, written atomically to stderr:
//   text: 2026-11-23T10:00:00.123Z INFO msg key=value ...
//   json: {"ts":"...","level":"info","msg":"...","key":"value"}
void write(Level level, std::string_view msg, const Fields& fields = {});

inline void debug(std::string_view msg, const Fields& f = {}) {
  write(Level::Debug, msg, f);
}
inline void info(std::string_view msg, const Fields& f = {}) {
  write(Level::Info, msg, f);
}
inline void warn(std::string_view msg, const Fields& f = {}) {
  write(Level::Warn, msg, f);
}
inline void error(std::string_view msg, const Fields& f = {}) {
  write(Level::Error, msg, f);
}

// Formats one line without writing it (used by write() and by tests).
std::string formatLine(Format format, Level level, std::string_view msg, const Fields& fields);

}  // namespace umbra::log
