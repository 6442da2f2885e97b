# Compiler warnings and sanitizers live on one INTERFACE target that every project
# target links, so a single switch changes them everywhere.
add_library(mdesync_options INTERFACE)
target_compile_options(mdesync_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
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

# Layering enforced by the build (docs/adr/0093). src/ is on no target's include path.
# Each library target owns the headers of one src/ folder (only that folder, not its
# subfolders, which belong to targets of their own) and exposes them, and only them,
# through an include tree of its own in the build folder: one symbolic link per header,
# build/include/<target>/<folder>/<file>.hpp -> src/<folder>/<file>.hpp. The tree is the
# target's PUBLIC include directory, so a target sees its own headers and those of the
# targets it links (directly or through their PUBLIC links), and an include of any other
# header fails to compile. Includes are written as before: #include "store/store.hpp".
set(MDESYNC_INCLUDE_ROOT ${PROJECT_BINARY_DIR}/include)
define_property(GLOBAL PROPERTY MDESYNC_OWNED_HEADERS
  BRIEF_DOCS "Headers under src/ owned by a target (mdesync_expose_headers)"
  FULL_DOCS "Headers under src/ owned by a target (mdesync_expose_headers)")

# mdesync_expose_headers(TARGET DIR [HEADERS file...]): TARGET owns the headers of src/DIR
# (DIR may be a subfolder: store/sqlite) and exposes them. Without HEADERS, every *.hpp
# directly in src/DIR that no target declared before owns (a header-only target that
# takes a few of a folder's headers is declared before the folder's main target). A new
# header in the folder makes the next build reconfigure (CONFIGURE_DEPENDS).
function(mdesync_expose_headers target dir)
  cmake_parse_arguments(ARG "" "" "HEADERS" ${ARGN})
  set(folder ${PROJECT_SOURCE_DIR}/src/${dir})
  if(NOT IS_DIRECTORY ${folder})
    message(FATAL_ERROR "mdesync_expose_headers(${target}): no folder src/${dir}")
  endif()
  get_property(owned GLOBAL PROPERTY MDESYNC_OWNED_HEADERS)
  if(ARG_HEADERS)
    list(TRANSFORM ARG_HEADERS PREPEND ${folder}/ OUTPUT_VARIABLE headers)
  else()
    file(GLOB headers CONFIGURE_DEPENDS ${folder}/*.hpp)
    foreach(header IN LISTS owned)
      list(REMOVE_ITEM headers ${header})
    endforeach()
  endif()
  set(tree ${MDESYNC_INCLUDE_ROOT}/${target})
  # Rebuilt at every configure, so that a header moved or removed leaves no link behind.
  file(REMOVE_RECURSE ${tree})
  file(MAKE_DIRECTORY ${tree}/${dir})
  foreach(header IN LISTS headers)
    if(NOT EXISTS ${header})
      message(FATAL_ERROR "mdesync_expose_headers(${target}): no header ${header}")
    endif()
    if(header IN_LIST owned)
      message(FATAL_ERROR "mdesync_expose_headers(${target}): ${header} has an owner already")
    endif()
    get_filename_component(name ${header} NAME)
    file(CREATE_LINK ${header} ${tree}/${dir}/${name} SYMBOLIC)
  endforeach()
  set_property(GLOBAL APPEND PROPERTY MDESYNC_OWNED_HEADERS ${headers})
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    target_include_directories(${target} INTERFACE ${tree})
  else()
    target_include_directories(${target} PUBLIC ${tree})
  endif()
endfunction()

# Every header under src/ has an owner: a header no target owns could be included by no
# one (called at the end of the top-level CMakeLists.txt).
function(mdesync_check_header_owners)
  file(GLOB_RECURSE all CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/*.hpp)
  get_property(owned GLOBAL PROPERTY MDESYNC_OWNED_HEADERS)
  foreach(header IN LISTS owned)
    list(REMOVE_ITEM all ${header})
  endforeach()
  if(all)
    list(JOIN all "\n  " unowned)
    message(FATAL_ERROR "Headers that no target owns (mdesync_module HEADERS_DIR, "
                        "docs/adr/0093):\n  ${unowned}")
  endif()
endfunction()

# mdesync_module(NAME SOURCES... DEPS ... [PRIVATE_DEPS ...] [HEADERS_DIR DIR] [HEADERS ...]):
# one static library, mdesync_NAME, per src/ folder. It owns and exposes the headers of
# src/DIR (default: src/NAME; see mdesync_expose_headers). A subfolder is a target of its
# own: in src/store/CMakeLists.txt,
#   mdesync_module(store_sqlite HEADERS_DIR store/sqlite SOURCES sqlite/db.cpp ...
#                  DEPS mdesync_store PRIVATE_DEPS SQLite::SQLite3)
# owns src/store/sqlite/*.hpp, included as "store/sqlite/db.hpp".
function(mdesync_module name)
  cmake_parse_arguments(ARG "" "HEADERS_DIR" "SOURCES;DEPS;PRIVATE_DEPS;HEADERS" ${ARGN})
  if(NOT ARG_HEADERS_DIR)
    set(ARG_HEADERS_DIR ${name})
  endif()
  add_library(mdesync_${name} STATIC ${ARG_SOURCES})
  target_link_libraries(mdesync_${name} PUBLIC mdesync_options ${ARG_DEPS})
  if(ARG_PRIVATE_DEPS)
    target_link_libraries(mdesync_${name} PRIVATE ${ARG_PRIVATE_DEPS})
  endif()
  if(ARG_HEADERS)
    mdesync_expose_headers(mdesync_${name} ${ARG_HEADERS_DIR} HEADERS ${ARG_HEADERS})
  else()
    mdesync_expose_headers(mdesync_${name} ${ARG_HEADERS_DIR})
  endif()
endfunction()
