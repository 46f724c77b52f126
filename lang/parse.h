/* parse.h - the front end's entry point: .aai text to AST.
 *
 * A reentrant flex scanner (lexer.l) feeds a pure bison parser (parser.y).
 * Syntax errors go to the Diag with their position; the parser recovers at
 * item and statement boundaries so one run reports several errors. */
#ifndef AAI_PARSE_H
#define AAI_PARSE_H

#include "arena.h"
#include "ast.h"
#include "diag.h"

/* Parses `text`, registered in `d` under `path`. Always returns a file (its
 * items may be partial when errors were reported); check
 * diag_error_count(d). Every node is allocated in `a`. `text` must outlive
 * the Diag (diagnostics quote it). */
AstFile *parse_source(Arena *a, Diag *d, const char *path, const char *text);

#endif
