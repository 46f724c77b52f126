/* exe_main.c - main() of executables built by aaic.
 *
 * The model object exports `aai_model`; everything else is the runtime's
 * generic CLI (cli.c). Kept apart from libaairt so programs that embed a
 * model keep their own main. */
#include "aairt.h"

extern const AairtModel aai_model;

int main(int argc, char **argv) { return aairt_main(&aai_model, argc, argv); }
