/* init.h - parameter initialisation from the manifest's param table.
 *
 * Each parameter is filled according to its "init" kind with numbers from
 * the "init" stream of the run's seed (rng.h), parameter by parameter in
 * table order, so one seed always gives the same weights. */
#ifndef AAIRT_INIT_H
#define AAIRT_INIT_H

#include <stdint.h>

#include "model.h"
#include "rng.h"

/* Fills dst[0..size) for one parameter, drawing from rng. */
void aairt_init_param(const AairtParamInfo *param, float *dst, AairtRng *rng);
/* Zeroes the parameter block, then initialises every parameter of the
 * manifest from AAIRT_RNG_STREAM_INIT of `seed`. */
void aairt_init_params(const AairtManifest *m, float *params, uint64_t seed);

#endif
