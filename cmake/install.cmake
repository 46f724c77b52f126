# install.cmake - the installed tree for embedding (README "CMake package"):
# aairt.h and aairt_embed.h, the shared runtime, a pkg-config file (aai.pc)
# and a CMake package (find_package(aai): aai::aaic, aai::aairt,
# aai::aairt_shared, aai_add_model). Included from the top CMakeLists.txt
# after the targets exist.
include(CMakePackageConfigHelpers)

install(TARGETS aairt_shared EXPORT aaiTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/aai)
install(FILES runtime/include/aairt_embed.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/aai)
install(EXPORT aaiTargets NAMESPACE aai::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/aai)

configure_package_config_file(cmake/aaiConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/aaiConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/aai)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/aaiConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/aaiConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/aaiConfigVersion.cmake
              cmake/AaiAddModel.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/aai)

# pkg-config: @CMAKE_INSTALL_PREFIX@ is resolved at install time, so
# `cmake --install --prefix P` gets a file naming P.
install(CODE "
  set(CMAKE_INSTALL_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(CMAKE_INSTALL_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
  set(CMAKE_INSTALL_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  set(PROJECT_VERSION \"${PROJECT_VERSION}\")
  set(AAI_LINK_EXTRA_FLAGS \"${AAI_LINK_EXTRA_FLAGS}\")
  configure_file(\"${CMAKE_CURRENT_SOURCE_DIR}/cmake/aai.pc.in\"
                 \"${CMAKE_CURRENT_BINARY_DIR}/aai.pc.install\" @ONLY)
  file(INSTALL \"${CMAKE_CURRENT_BINARY_DIR}/aai.pc.install\"
       DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig\"
       RENAME aai.pc)
")
