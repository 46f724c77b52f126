/* fmt.h - `aaic fmt` / `aai fmt`: the formatter's command line. */
#ifndef AAI_FMT_H
#define AAI_FMT_H

/* Runs `fmt [--check | -w] [FILE...]` (argv[0] is "fmt"). Without files
 * it formats stdin to stdout. Returns the exit code: 0 ok, 1 a file has
 * syntax errors or (--check) would change, 2 bad command line. */
int fmt_main(int argc, char **argv);

#endif
