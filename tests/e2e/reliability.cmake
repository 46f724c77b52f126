# Reliability tests (README "Reliability"): the bad-input corpus, crash-safe
# training (kill and resume), the numerical guard.
add_test(NAME bad_inputs_corpus
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/../bad/run.sh $<TARGET_FILE:aaic>
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(bad_inputs_corpus PROPERTIES TIMEOUT 900)
if(AAI_SANITIZE)
  # A 2.2 GB line takes minutes under ASan; 200 MB still crosses every
  # buffer growth step (the 2 GiB record limit itself is checked in the
  # normal build).
  set_property(TEST bad_inputs_corpus APPEND PROPERTY ENVIRONMENT AAI_BAD_BIG_LINE=200000000)
endif()
add_test(NAME e2e_kill_resume
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/kill_resume.sh $<TARGET_FILE:aaic> 20
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e_kill_resume PROPERTIES TIMEOUT 900)
add_test(NAME e2e_diverge
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/diverge.sh $<TARGET_FILE:aaic>
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
