/* format.h - the canonical layout of .aai source (aaic fmt / aai fmt).
 *
 * The formatter prints the AST back as text: 4-space indentation, one
 * field or statement per line, `=` aligned in dataset and train blocks,
 * single spaces around binary operators and `=`, `, ` between arguments,
 * no space inside brackets. It keeps every comment (own-line comments
 * before the code that follows them, trailing comments after the line they
 * were on), at most one blank line where the source had one or more, the
 * spelling of numbers and strings, and the line breaks a user put before
 * `|>` or after a comma in an argument list or list (continuation lines
 * align after the open bracket, or indent 4 more before `|>`). The output
 * is a fixed point: formatting it again changes nothing. */
#ifndef AAI_FORMAT_H
#define AAI_FORMAT_H

#include "ast.h"

/* Formats `file`, parsed from `text` without errors. Returns malloc'd
 * text; the caller frees it. */
char *ast_format(const AstFile *file, const char *text);

#endif
