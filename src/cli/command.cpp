#include "cli/command.hpp"

#include <algorithm>

namespace mdesync::cli {
namespace {

std::vector<CommandInfo>& registry() {
  static std::vector<CommandInfo> commands;
  return commands;
}

}  // namespace

bool register_command(CommandInfo info) {
  registry().push_back(std::move(info));
  return true;
}

std::vector<CommandInfo> registered_commands() {
  auto commands = registry();
  std::sort(commands.begin(), commands.end(),
            [](const CommandInfo& a, const CommandInfo& b) { return a.name < b.name; });
  return commands;
}

}  // namespace mdesync::cli
