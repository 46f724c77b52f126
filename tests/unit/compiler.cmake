# Unit tests of the compiler's middle and back end: IR, passes, codegen,
# JIT parity with PyTorch fixtures, finite-difference gradient checks.
# Tests that JIT generated code link aairt (aairt_optimizer_step,
# aairt_sgemm), and export their symbols so the JIT can resolve them.
aai_add_test(test_ir SOURCES unit/test_ir.c LIBS aai_compiler)
aai_add_test(test_passes SOURCES unit/test_passes.c LIBS aai_compiler)
aai_add_test(test_codegen SOURCES unit/test_codegen.c LIBS aai_compiler aairt)
aai_add_test(test_parity SOURCES unit/test_parity.c unit/st_read.c
             LIBS aai_compiler aairt PkgConfig::CJSON m)
aai_add_test(test_gradcheck SOURCES unit/test_gradcheck.c
             LIBS aai_compiler aairt m)
aai_add_test(test_layers SOURCES unit/test_layers.c
             LIBS aai_compiler aairt m)
aai_add_test(test_linear SOURCES unit/test_linear.c LIBS aai_compiler aairt m)
foreach(t test_codegen test_parity test_gradcheck test_layers test_linear)
  set_target_properties(${t} PROPERTIES ENABLE_EXPORTS ON)
endforeach()
