# The language's tools (issue #7): the formatter, `aai run` (JIT) against
# built executables, and one test per stdlib function.
add_test(NAME lang_fmt
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/fmt.sh $<TARGET_FILE:aaic>
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
add_test(NAME lang_run_jit
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/run_jit.sh
                 $<TARGET_FILE:aaic> $<TARGET_FILE:aai>
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
add_test(NAME lang_stdlib
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/stdlib.sh $<TARGET_FILE:aaic>
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
