# Golden tests: diagnostics (each .aai carries its expected errors as
# comments) and IR dumps (each .aai beside its expected --emit=ir text).
add_test(NAME golden_diagnostics
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/golden/run_diagnostics.sh
                 $<TARGET_FILE:aaic> tests/golden/diagnostics
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
add_test(NAME golden_ir
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/golden/run_ir.sh
                 $<TARGET_FILE:aaic> tests/golden/ir
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
