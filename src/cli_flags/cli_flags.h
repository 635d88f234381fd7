#pragma once

// The conventions of every Umbra binary's command line, over CLI11 (Debian's libcli11-dev): --help
// on stdout with exit 0 (for each subcommand too), --version, and a bad flag as one line on
// stderr naming it, with exit 2. Include only from a binary's main: CLI11 is a large header.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "cli_flags/version.h"

namespace umbra::cli_flags {

// Adds --version to `app`.
inline void addVersion(CLI::App& app, const std::string& name) {
  app.set_version_flag("--version", name + " " + Version);
}

// The flags a parse did not recognise, in the app and the subcommands it reached.
inline std::string unknownFlags(CLI::App& app) {
  std::string flags;
  for (CLI::App* sub = &app; sub != nullptr;) {
    for (const auto& r : sub->remaining()) {
      if (!r.empty() && r.front() == '-')
        flags += (flags.empty() ? "" : " ") + r;
    }
    const auto subs = sub->get_subcommands();
    sub = subs.empty() ? nullptr : subs.front();
  }
  return flags;
}

// Parses; returns -1 to go on, else the exit code (0 after --help/--version, 2 on a bad flag).
// An unknown flag is named first, even when a required one is missing too.
inline int parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return -1;
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::fputs((std::string(e.what()) + "\n").c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::string message = "unknown flag " + unknownFlags(app);
    if (message == "unknown flag ") {
      message = e.what();
      for (auto& c : message)
        c = c == '\n' ? ' ' : c;
    }
    std::fprintf(stderr, "%s: %s (see --help)\n", app.get_name().c_str(), message.c_str());
    return 2;
  }
}

// A subcommand's --help: CLI11 prints the parent's help by default.
inline void helpOfSubcommands(CLI::App& app) {
  for (auto* sub : app.get_subcommands({}))
    sub->set_help_flag("-h,--help", "Print this help and exit");
}

}  // namespace umbra::cli_flags
