# Deployment: embedding API, cross-compilation and CI behaviour, byte-for-
# byte reproducible builds, the installed CMake package and pkg-config file.
add_test(NAME e2e_embed
         COMMAND bash ${E2E}/embed.sh $<TARGET_FILE:aaic> ${PROJECT_BINARY_DIR}
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
add_test(NAME e2e_deploy
         COMMAND bash ${E2E}/deploy.sh $<TARGET_FILE:aaic>
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
add_test(NAME e2e_reproducible
         COMMAND bash ${E2E}/reproducible.sh $<TARGET_FILE:aaic>
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
add_test(NAME e2e_cmake_consumer
         COMMAND bash ${E2E}/cmake_consumer.sh ${PROJECT_BINARY_DIR}
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e_embed e2e_deploy e2e_reproducible e2e_cmake_consumer
                     PROPERTIES TIMEOUT 600
                     ENVIRONMENT "AAI_LINK_EXTRA_FLAGS=${AAI_LINK_EXTRA_FLAGS}")
# Both install into temporary prefixes from the same build tree.
set_tests_properties(e2e_cmake_consumer PROPERTIES RESOURCE_LOCK aai_install)
if(TEST e2e_install)
  set_tests_properties(e2e_install PROPERTIES RESOURCE_LOCK aai_install)
endif()

aai_add_test(test_sha256 SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sha256.c
             LIBS aairt)
target_include_directories(test_sha256 PRIVATE ${PROJECT_SOURCE_DIR}/runtime/src)
if(AAI_SANITIZE)
  # embed.sh links C programs against the sanitized libaairt itself.
  set_property(TEST e2e_embed APPEND PROPERTY ENVIRONMENT
               "AAI_LINK_EXTRA_FLAGS=-fsanitize=${AAI_SANITIZE}")
endif()
