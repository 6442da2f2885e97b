#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace mdesync::cli {

// A subcommand declares its options on `sub` (already created by main with the
// command's name and description) and returns the action to run when it was chosen;
// the action's return value is the process exit status (cli/exit_codes.hpp).
using CommandAction = std::function<int()>;
using CommandSetup = std::function<CommandAction(CLI::App& sub)>;

struct CommandInfo {
  std::string name;
  std::string description;
  CommandSetup setup;
};

// Called from a static initialiser in each cmd_*.cpp: `const bool k_registered = ...`.
bool register_command(CommandInfo info);

// Registered commands, sorted by name.
std::vector<CommandInfo> registered_commands();

}  // namespace mdesync::cli
