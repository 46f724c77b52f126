# End-to-end tests: compile the examples with aaic, train them on the real
# data, and check what a user would check (test metrics, determinism, errors).
set(E2E ${CMAKE_CURRENT_SOURCE_DIR}/e2e)

# aai_add_e2e(NAME EXAMPLE METRIC MIN [train args...])
function(aai_add_e2e name example metric min)
  add_test(NAME e2e_${name}
           COMMAND bash ${E2E}/example.sh $<TARGET_FILE:aaic> ${example} ${metric} ${min} ${ARGN}
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(e2e_${name} PROPERTIES TIMEOUT 900)
endfunction()

aai_add_e2e(iris examples/iris.aai accuracy 0.93)
aai_add_e2e(breast_cancer examples/breast_cancer.aai accuracy 0.95)
aai_add_e2e(digits examples/digits.aai accuracy 0.95)
aai_add_e2e(diabetes examples/diabetes.aai r2 0.40)
aai_add_e2e(digits_stdlib examples/digits_stdlib.aai accuracy 0.95)
aai_add_e2e(digits_residual examples/digits_residual.aai accuracy 0.95)
if(EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  aai_add_e2e(fashion_mlp examples/fashion_mlp.aai accuracy 0.86)
  aai_add_e2e(fashion_cnn examples/fashion_cnn.aai accuracy 0.87)
  aai_add_e2e(fashion_resnet examples/fashion_resnet.aai accuracy 0.88)
endif()
aai_add_e2e(sequence examples/sequence.aai accuracy 0.90)

add_test(NAME e2e_determinism
         COMMAND bash ${E2E}/determinism.sh $<TARGET_FILE:aaic>
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
add_test(NAME e2e_bad_inputs
         COMMAND bash ${E2E}/bad_inputs.sh $<TARGET_FILE:aaic>
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
add_test(NAME e2e_cli
         COMMAND bash ${E2E}/cli.sh $<TARGET_FILE:aaic>
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
add_test(NAME e2e_install
         COMMAND bash ${E2E}/install.sh ${PROJECT_BINARY_DIR}
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})

# A warmed training step allocates nothing (tests/e2e/no_alloc.sh), counted
# by a preload library; not under the sanitizers, which own malloc.
if(NOT AAI_SANITIZE)
  add_library(aai_alloc_count MODULE ${E2E}/alloc_count.c)
  target_link_libraries(aai_alloc_count PRIVATE ${CMAKE_DL_LIBS})
  add_test(NAME e2e_no_alloc
           COMMAND bash ${E2E}/no_alloc.sh $<TARGET_FILE:aaic> $<TARGET_FILE:aai_alloc_count>
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
endif()
