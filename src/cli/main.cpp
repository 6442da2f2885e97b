#include <cstdio>
#include <exception>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/command.hpp"
#include "cli/exit_codes.hpp"

int main(int argc, char** argv) {
  using namespace mdesync::cli;
  CLI::App app{
      "mdesync: keeps Microsoft Defender for Endpoint vulnerability data in your own database"};
  app.set_version_flag("--version", std::string("mdesync ") + MDESYNC_VERSION);
  app.require_subcommand(1);

  std::vector<std::pair<CLI::App*, CommandAction>> actions;
  for (const auto& command : registered_commands()) {
    CLI::App* sub = app.add_subcommand(command.name, command.description);
    actions.emplace_back(sub, command.setup(*sub));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? k_exit_ok : k_exit_usage;
  }

  try {
    for (auto& [sub, action] : actions) {
      if (sub->parsed()) return action();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mdesync: internal error: %s\n", e.what());
    return k_exit_failure;
  }
  return k_exit_usage;
}
