# Unit tests of libaairt's core (optim, rng, init, metrics, config, cli,
# blas: the lazily loaded, thread-split sgemm; im2col, conv2d, pool2d, batchnorm, transpose: the
# layout and window functions generated code calls; scratch: their
# per-thread working memory).
# fixture_util.c is a test-local safetensors reader other suites may reuse.
set(RC_DIR ${CMAKE_CURRENT_LIST_DIR})
set(RC_INC ${PROJECT_SOURCE_DIR}/runtime/src)

foreach(t optim rng_init metrics config cli blas im2col conv2d pool2d batchnorm transpose scratch)
  aai_add_test(test_${t} SOURCES ${RC_DIR}/test_${t}.c ${RC_DIR}/fixture_util.c LIBS aairt)
  target_include_directories(test_${t} PRIVATE ${RC_INC} ${RC_DIR})
endforeach()
