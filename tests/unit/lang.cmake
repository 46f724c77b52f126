# Front-end tests (lexer, parser, syntax-error goldens); included from
# tests/CMakeLists.txt, so paths are relative to tests/.
aai_add_test(test_lexer SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_lexer.c LIBS aai_lang)
aai_add_test(test_parser SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_parser.c LIBS aai_lang)
aai_add_test(test_syntax_golden
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_syntax_golden.c LIBS aai_lang)
