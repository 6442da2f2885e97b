# Compiler warnings and sanitizers live on one INTERFACE target that every project
# target links, so a single switch changes them everywhere.
add_library(mdesync_options INTERFACE)
target_compile_options(mdesync_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
target_include_directories(mdesync_options INTERFACE ${PROJECT_SOURCE_DIR}/src)
if(MDESYNC_WERROR)
  target_compile_options(mdesync_options INTERFACE -Werror)
endif()
if(MDESYNC_SANITIZE)
  target_compile_options(mdesync_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(mdesync_options INTERFACE -fsanitize=address,undefined)
endif()

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()

# mdesync_module(NAME SOURCES... DEPS ...): one static library per src/ folder.
function(mdesync_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(mdesync_${name} STATIC ${ARG_SOURCES})
  target_link_libraries(mdesync_${name} PUBLIC mdesync_options ${ARG_DEPS})
  if(ARG_PRIVATE_DEPS)
    target_link_libraries(mdesync_${name} PRIVATE ${ARG_PRIVATE_DEPS})
  endif()
endfunction()
