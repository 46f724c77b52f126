# Runtime data side: CSV, IDX, safetensors, datasets and transforms.
# The tests reach into runtime/src for the module headers (not public).
foreach(t csv idx safetensors dataset)
  aai_add_test(test_${t} SOURCES unit/test_${t}.c LIBS aairt ZLIB::ZLIB)
  target_include_directories(test_${t} PRIVATE ${PROJECT_SOURCE_DIR}/runtime/src)
endforeach()
