// `mdesync version`: the same text as `mdesync --version`, for scripts that prefer a
// subcommand.
#include <cstdio>

#include "cli/command.hpp"
#include "cli/exit_codes.hpp"

namespace mdesync::cli {
namespace {

const bool k_registered = register_command({"version", "Print the program version", [](CLI::App&) {
                                              return CommandAction([] {
                                                std::printf("mdesync %s\n", MDESYNC_VERSION);
                                                return static_cast<int>(k_exit_ok);
                                              });
                                            }});

}  // namespace
}  // namespace mdesync::cli
