# `cmake --install` and CPack (README "Operating mdesync", docs/adr/0085): the two
# binaries, their man pages, an example configuration and the systemd units, and a
# Debian package of them (`cpack -G DEB` in the build folder; scripts/package-check).
include(GNUInstallDirs)

install(TARGETS mdesync mdesim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Man pages: docs/man/*.1.in with the option lists filled in from each program's --help
# by scripts/gen-man, so that they always match the options; gzipped as Debian installs
# them (build/man/ keeps the plain page too: `man -l build/man/mdesync.1`).
foreach(program mdesync mdesim)
  set(page ${CMAKE_CURRENT_BINARY_DIR}/man/${program}.1)
  add_custom_command(
    OUTPUT ${page}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/man
    COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/scripts/gen-man
            ${CMAKE_CURRENT_SOURCE_DIR}/docs/man/${program}.1.in ${page}
            $<TARGET_FILE:${program}> ${PROJECT_VERSION}
    COMMAND gzip -9 -n -k -f ${page}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/docs/man/${program}.1.in
            ${CMAKE_CURRENT_SOURCE_DIR}/scripts/gen-man ${program}
    VERBATIM)
  list(APPEND MDESYNC_MAN_PAGES ${page}.gz)
endforeach()
add_custom_target(man_pages ALL DEPENDS ${MDESYNC_MAN_PAGES})
install(FILES ${MDESYNC_MAN_PAGES} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

install(FILES packaging/mdesync.example.toml README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# systemd units and the user they run as, under PREFIX/lib: systemd reads units from
# /usr/lib/systemd/system (the package) and /usr/local/lib/systemd/system (a
# `cmake --install` with the default prefix), and sysusers.d files beside them.
set(MDESYNC_SYSTEMD_UNIT_DIR lib/systemd/system CACHE PATH "Where to install the systemd units")
set(MDESYNC_SYSUSERS_DIR lib/sysusers.d CACHE PATH "Where to install the sysusers.d file")
install(FILES packaging/systemd/mdesync-sync@.service packaging/systemd/mdesync-sync@.timer
              packaging/systemd/mdesync-full@.service packaging/systemd/mdesync-full@.timer
        DESTINATION ${MDESYNC_SYSTEMD_UNIT_DIR})
install(FILES packaging/sysusers.d/mdesync.conf DESTINATION ${MDESYNC_SYSUSERS_DIR})

# The Debian package. Its library dependencies come from dpkg-shlibdeps.
set(CPACK_PACKAGE_NAME mdesync)
set(CPACK_PACKAGE_VENDOR "mdesync")
set(CPACK_PACKAGE_CONTACT "mdesync maintainers <mdesync@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Sync Microsoft Defender for Endpoint vulnerability data into SQLite or PostgreSQL")
set(CPACK_PACKAGE_DESCRIPTION
    "mdesync keeps Microsoft Defender for Endpoint vulnerability data (devices, software, \
findings, CVE definitions) in a SQLite or PostgreSQL database with full and delta syncs. \
The package holds mdesync, mdesim (a simulator of the Defender API), their man pages, an \
example configuration and systemd units for a daily delta and a weekly full sync.")
set(CPACK_PACKAGE_INSTALL_DIRECTORY mdesync)
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd | passwd")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "prometheus-node-exporter")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql-client")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_SOURCE_DIR}/packaging/debian/postinst
                                       ${CMAKE_CURRENT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
