/* exe_main.c - main() of executables built by aaic.
 *
 * The model object exports `aai_model` (and `aai_baked` when weights were
 * baked in); everything else is the runtime's generic CLI (cli.c). Kept
 * apart from libaairt so programs that embed a model keep their own main. */
#include "aairt.h"

extern const AairtModel aai_model;
/* Defined only by executables built with --weights: a weak reference is
 * NULL otherwise, so one main serves both. */
extern const AairtBaked aai_baked __attribute__((weak));

int main(int argc, char **argv) {
    return aairt_main_baked(&aai_model, &aai_baked, argc, argv);
}
