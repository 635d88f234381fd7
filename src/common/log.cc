#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace umbra::log {
namespace {

std::atomic<Format> g_format{Format::Text};
std::atomic<Level> g_level{Level::Info};
std::mutex g_write_mutex;

const char* levelName(Level level) {
  switch (level) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
  }
  return "info";
}

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

void appendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void appendTextValue(std::string& out, std::string_view s) {
  const bool quote = s.empty() || s.find_first_of(" \"=\n\t") != std::string_view::npos;
  if (quote) {
    appendJsonString(out, s);
  } else {
    out.append(s);
  }
}

}  // namespace

void configure(Format format, Level level) {
  g_format = format;
  g_level = level;
}

bool parseLevel(std::string_view s, Level& out) {
  for (const Level l : {Level::Debug, Level::Info, Level::Warn, Level::Error}) {
    if (s == levelName(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

bool parseFormat(std::string_view s, Format& out) {
  if (s == "text") {
    out = Format::Text;
    return true;
  }
  if (s == "json") {
    out = Format::Json;
    return true;
  }
  return false;
}

bool enabled(Level level) {
  return level >= g_level.load();
}

std::string formatLine(Format format, Level level, std::string_view msg, const Fields& fields) {
  std::string line;
  line.reserve(128);
  if (format == Format::Json) {
    line += "{\"ts\":\"" + timestamp() + "\",\"level\":\"" + levelName(level) + "\",\"msg\":";
    appendJsonString(line, msg);
    for (const auto& [k, v] : fields) {
      line.push_back(',');
      appendJsonString(line, k);
      line.push_back(':');
      appendJsonString(line, v);
    }
    line += "}\n";
    return line;
  }
  line += timestamp();
  line += ' ';
  std::string lv = levelName(level);
  for (char& c : lv) {
    c = static_cast<char>(c - 'a' + 'A');
  }
  line += lv;
  line += ' ';
  line.append(msg);
  for (const auto& [k, v] : fields) {
    line += ' ' + k + '=';
    appendTextValue(line, v);
  }
  line.push_back('\n');
  return line;
}

void write(Level level, std::string_view msg, const Fields& fields) {
  if (!enabled(level)) {
    return;
  }
  const std::string line = formatLine(g_format.load(), level, msg, fields);
  const std::lock_guard<std::mutex> lock(g_write_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace umbra::log
